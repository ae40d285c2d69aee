//! Coupons and promotion codes: creation, case-insensitive uniqueness among active codes,
//! expiry and redemption limits, and resolving a requested discount.

use serde_json::Value;

use super::core::{Core, Ctx};
use super::state::{Coupon, DiscountRef, PromotionCode, StripeMetadata};
use super::wire::{self, list_json, ApiError, Params};

/// `POST /v1/coupons` parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewCoupon {
    /// Caller-chosen id.
    pub id: Option<String>,
    /// Percentage off.
    pub percent_off: Option<f64>,
    /// Amount off.
    pub amount_off: Option<u64>,
    /// Currency of `amount_off`.
    pub currency: Option<String>,
    /// `once` (default), `repeating`, `forever`.
    pub duration: String,
    /// Months for `repeating`.
    pub duration_in_months: Option<u64>,
    /// Redemption cap.
    pub max_redemptions: Option<u64>,
    /// Unix seconds.
    pub redeem_by: Option<u64>,
}

/// Parses `POST /v1/coupons`.
pub fn parse_coupon(params: &Params) -> Result<NewCoupon, ApiError> {
    params.check_allowed(&[
        "id",
        "percent_off",
        "amount_off",
        "currency",
        "duration",
        "duration_in_months",
        "max_redemptions",
        "redeem_by",
        "name",
        "metadata[*]",
        "expand[#]",
    ])?;
    let percent_off = params.decimal("percent_off")?;
    let amount_off = params.integer("amount_off")?;
    let currency = params.string("currency")?.map(|c| c.to_lowercase());
    match (percent_off, amount_off) {
        (None, None) => {
            return Err(ApiError::invalid(
                None,
                "Must provide one of `percent_off` or `amount_off`.",
                Some("percent_off"),
            ))
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                Some("parameters_exclusive"),
                "You may only specify one of these parameters: amount_off, percent_off.",
                Some("amount_off"),
            ))
        }
        (Some(p), None) if !(p > 0.0 && p <= 100.0) => {
            return Err(ApiError::invalid(
                None,
                "Invalid percent_off: must be greater than 0 and at most 100",
                Some("percent_off"),
            ))
        }
        (None, Some(_)) if currency.is_none() => return Err(ApiError::missing("currency")),
        _ => {}
    }
    let duration = params.string("duration")?.unwrap_or_else(|| "once".to_string());
    if !matches!(duration.as_str(), "once" | "repeating" | "forever") {
        return Err(ApiError::invalid(
            None,
            format!("Invalid duration: must be one of forever, once, or repeating (got {duration})"),
            Some("duration"),
        ));
    }
    let duration_in_months = params.integer("duration_in_months")?;
    if duration == "repeating" && duration_in_months.is_none() {
        return Err(ApiError::missing("duration_in_months"));
    }
    let max_redemptions = params.integer("max_redemptions")?;
    if max_redemptions == Some(0) {
        return Err(ApiError::invalid(
            Some("parameter_invalid_integer"),
            "This value must be greater than or equal to 1.",
            Some("max_redemptions"),
        ));
    }
    Ok(NewCoupon {
        id: params.string("id")?,
        percent_off,
        amount_off,
        currency,
        duration,
        duration_in_months,
        max_redemptions,
        redeem_by: params.integer("redeem_by")?,
    })
}

/// Creates a coupon; a taken id is a 400 `resource_already_exists`.
pub fn create_coupon(core: &mut Core, ctx: &Ctx<'_>, new: &NewCoupon) -> Result<Value, ApiError> {
    let id = match &new.id {
        Some(id) if core.objects.coupons.contains_key(id) => {
            return Err(ApiError::invalid(
                Some("resource_already_exists"),
                "Coupon already exists.",
                Some("id"),
            ))
        }
        Some(id) => id.clone(),
        None => core.ids.next("coupon").split_off("coupon_".len()),
    };
    let coupon = Coupon {
        id: id.clone(),
        seq: core.objects.seq(),
        created: ctx.now_secs(),
        percent_off: new.percent_off,
        amount_off: new.amount_off,
        currency: new.currency.clone(),
        duration: new.duration.clone(),
        duration_in_months: new.duration_in_months,
        max_redemptions: new.max_redemptions,
        redeem_by: new.redeem_by,
        times_redeemed: 0,
    };
    let out = coupon.to_json(ctx.now_secs());
    core.objects.coupons.insert(id, coupon);
    core.emit(ctx, "coupon.created", out.clone(), None);
    Ok(out)
}

/// Retrieves a coupon.
pub fn retrieve_coupon(core: &Core, ctx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    core.objects
        .coupons
        .get(id)
        .map(|c| c.to_json(ctx.now_secs()))
        .ok_or_else(|| ApiError::no_such("coupon", id, "id"))
}

/// `POST /v1/promotion_codes` parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewPromotionCode {
    /// The coupon (`coupon` or, in current API versions, `promotion[coupon]`).
    pub coupon: String,
    /// The code; generated if absent.
    pub code: Option<String>,
    /// Default true.
    pub active: bool,
    /// Redemption cap.
    pub max_redemptions: Option<u64>,
    /// Unix seconds.
    pub expires_at: Option<u64>,
    /// Metadata.
    pub metadata: StripeMetadata,
}

/// Parses `POST /v1/promotion_codes` (both the legacy `coupon` and the current `promotion[...]` form).
pub fn parse_promotion_code(params: &Params) -> Result<NewPromotionCode, ApiError> {
    params.check_allowed(&[
        "coupon",
        "promotion[type]",
        "promotion[coupon]",
        "code",
        "active",
        "max_redemptions",
        "expires_at",
        "metadata[*]",
        "expand[#]",
    ])?;
    if let Some(kind) = params.string("promotion[type]")? {
        if kind != "coupon" {
            return Err(ApiError::invalid(
                None,
                format!("Invalid promotion[type]: must be coupon (got {kind})"),
                Some("promotion[type]"),
            ));
        }
    }
    let coupon = match (params.string("coupon")?, params.string("promotion[coupon]")?) {
        (Some(c), None) | (None, Some(c)) => c,
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                Some("parameters_exclusive"),
                "You may only specify one of these parameters: coupon, promotion.",
                Some("coupon"),
            ))
        }
        (None, None) => return Err(ApiError::missing("promotion[coupon]")),
    };
    let code = params.string("code")?;
    if let Some(c) = &code {
        if !c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            return Err(ApiError::invalid(
                None,
                "Invalid code: only alphanumeric characters, dashes and underscores are allowed.",
                Some("code"),
            ));
        }
    }
    let max_redemptions = params.integer("max_redemptions")?;
    if max_redemptions == Some(0) {
        return Err(ApiError::invalid(
            Some("parameter_invalid_integer"),
            "This value must be greater than or equal to 1.",
            Some("max_redemptions"),
        ));
    }
    Ok(NewPromotionCode {
        coupon,
        code,
        active: params.boolean("active")?.unwrap_or(true),
        max_redemptions,
        expires_at: params.integer("expires_at")?,
        metadata: params.metadata()?.unwrap_or_default(),
    })
}

fn active_code_taken(core: &Core, code: &str, except_id: Option<&str>) -> bool {
    core.objects
        .promotion_codes
        .values()
        .any(|p| p.active && Some(p.id.as_str()) != except_id && p.code.eq_ignore_ascii_case(code))
}

fn code_taken_error(code: &str) -> ApiError {
    ApiError::invalid(
        Some("resource_already_exists"),
        format!("An active promotion code with `code: {code}` already exists."),
        Some("code"),
    )
}

fn promo_json(core: &Core, ctx: &Ctx<'_>, promo: &PromotionCode) -> Value {
    let coupon = core
        .objects
        .coupons
        .get(&promo.coupon)
        .map(|c| c.to_json(ctx.now_secs()));
    promo.to_json(coupon)
}

/// Creates a promotion code.
pub fn create_promotion_code(
    core: &mut Core,
    ctx: &Ctx<'_>,
    new: &NewPromotionCode,
) -> Result<Value, ApiError> {
    if !core.objects.coupons.contains_key(&new.coupon) {
        return Err(ApiError::missing_ref("coupon", &new.coupon, "promotion[coupon]"));
    }
    let id = core.id("promo");
    let code = new
        .code
        .clone()
        .unwrap_or_else(|| id.get(6..14).unwrap_or("PROMO").to_uppercase());
    if new.active && active_code_taken(core, &code, None) {
        return Err(code_taken_error(&code));
    }
    let promo = PromotionCode {
        id: id.clone(),
        seq: core.objects.seq(),
        created: ctx.now_secs(),
        code,
        coupon: new.coupon.clone(),
        active: new.active,
        max_redemptions: new.max_redemptions,
        expires_at: new.expires_at,
        times_redeemed: 0,
        metadata: new.metadata.clone(),
    };
    let out = promo_json(core, ctx, &promo);
    core.objects.promotion_codes.insert(id, promo);
    core.emit(ctx, "promotion_code.created", out.clone(), None);
    Ok(out)
}

/// Retrieves a promotion code.
pub fn retrieve_promotion_code(core: &Core, ctx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    core.objects
        .promotion_codes
        .get(id)
        .map(|p| promo_json(core, ctx, p))
        .ok_or_else(|| ApiError::no_such("promotion code", id, "id"))
}

/// `POST /v1/promotion_codes/{id}` parameters: `active`, `metadata`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PromotionCodeUpdate {
    /// New active flag.
    pub active: Option<bool>,
    /// Metadata to merge.
    pub metadata: Option<StripeMetadata>,
}

/// Parses `POST /v1/promotion_codes/{id}`.
pub fn parse_promotion_code_update(params: &Params) -> Result<PromotionCodeUpdate, ApiError> {
    params.check_allowed(&["active", "metadata[*]", "expand[#]"])?;
    Ok(PromotionCodeUpdate {
        active: params.boolean("active")?,
        metadata: params.metadata()?,
    })
}

/// Updates a promotion code; re-activating a code whose string is taken by an active code → 400.
pub fn update_promotion_code(
    core: &mut Core,
    ctx: &Ctx<'_>,
    id: &str,
    update: &PromotionCodeUpdate,
) -> Result<Value, ApiError> {
    let Some(current) = core.objects.promotion_codes.get(id) else {
        return Err(ApiError::no_such("promotion code", id, "id"));
    };
    if update.active == Some(true) && !current.active && active_code_taken(core, &current.code, Some(id)) {
        return Err(code_taken_error(&current.code));
    }
    let Some(promo) = core.objects.promotion_codes.get_mut(id) else {
        return Err(ApiError::no_such("promotion code", id, "id"));
    };
    if let Some(active) = update.active {
        promo.active = active;
    }
    for (k, v) in update.metadata.iter().flatten() {
        if v.is_empty() {
            promo.metadata.remove(k);
        } else {
            promo.metadata.insert(k.clone(), v.clone());
        }
    }
    let promo = promo.clone();
    let out = promo_json(core, ctx, &promo);
    core.emit(ctx, "promotion_code.updated", out.clone(), None);
    Ok(out)
}

/// `GET /v1/promotion_codes` filters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PromotionCodeFilter {
    /// Code, compared case-insensitively.
    pub code: Option<String>,
    /// Active flag.
    pub active: Option<bool>,
    /// Coupon id.
    pub coupon: Option<String>,
    /// Page size.
    pub limit: usize,
}

/// Parses `GET /v1/promotion_codes`.
pub fn parse_promotion_code_list(params: &Params) -> Result<PromotionCodeFilter, ApiError> {
    params.check_allowed(&["code", "active", "coupon", "limit", "expand[#]"])?;
    Ok(PromotionCodeFilter {
        code: params.string("code")?,
        active: params.boolean("active")?,
        coupon: params.string("coupon")?,
        limit: wire::limit(params)?,
    })
}

/// `GET /v1/promotion_codes?code=&active=&coupon=` (code compared case-insensitively), newest first.
pub fn list_promotion_codes(core: &Core, ctx: &Ctx<'_>, filter: &PromotionCodeFilter) -> Value {
    let (code, active, coupon, limit) = (
        filter.code.as_deref(),
        filter.active,
        filter.coupon.as_deref(),
        filter.limit,
    );
    let mut hits: Vec<&PromotionCode> = core
        .objects
        .promotion_codes
        .values()
        .filter(|p| {
            code.is_none_or(|c| p.code.eq_ignore_ascii_case(c))
                && active.is_none_or(|a| p.active == a)
                && coupon.is_none_or(|c| p.coupon == c)
        })
        .collect();
    hits.sort_by_key(|x| std::cmp::Reverse(x.seq));
    let has_more = hits.len() > limit;
    let data = hits
        .into_iter()
        .take(limit)
        .map(|p| promo_json(core, ctx, p))
        .collect();
    list_json("/v1/promotion_codes", data, has_more)
}

/// Checks that a requested discount can be applied now; `param` names it in errors.
pub fn check_discount(
    core: &Core,
    ctx: &Ctx<'_>,
    discount: &DiscountRef,
    param: &str,
) -> Result<(), ApiError> {
    let now_secs = ctx.now_secs();
    if let Some(promo_id) = &discount.promotion_code {
        let promo = core
            .objects
            .promotion_codes
            .get(promo_id)
            .ok_or_else(|| ApiError::missing_ref("promotion code", promo_id, param))?;
        if let Some(reason) = promo.unusable_reason(now_secs) {
            return Err(ApiError::invalid(
                None,
                format!("This promotion code cannot be redeemed because it {reason}."),
                Some(param),
            ));
        }
        check_coupon(core, &promo.coupon, now_secs, param)?;
    }
    if let Some(coupon_id) = &discount.coupon {
        check_coupon(core, coupon_id, now_secs, param)?;
    }
    Ok(())
}

fn check_coupon(core: &Core, id: &str, now_secs: u64, param: &str) -> Result<(), ApiError> {
    let coupon = core
        .objects
        .coupons
        .get(id)
        .ok_or_else(|| ApiError::missing_ref("coupon", id, param))?;
    if !coupon.valid_at(now_secs) {
        return Err(ApiError::invalid(
            Some("coupon_expired"),
            format!("Coupon expired: {id}"),
            Some(param),
        ));
    }
    Ok(())
}

/// Counts one redemption of the discount (coupon and promotion code); returns the coupon id.
pub fn redeem(core: &mut Core, discount: &DiscountRef) -> Option<String> {
    let coupon_id = match &discount.promotion_code {
        Some(promo_id) => {
            let promo = core.objects.promotion_codes.get_mut(promo_id)?;
            promo.times_redeemed += 1;
            promo.coupon.clone()
        }
        None => discount.coupon.clone()?,
    };
    if let Some(coupon) = core.objects.coupons.get_mut(&coupon_id) {
        coupon.times_redeemed += 1;
    }
    Some(coupon_id)
}

/// The discounted amount of `amount` under the coupon `coupon_id`.
pub fn discounted(core: &Core, coupon_id: Option<&str>, amount: u64) -> u64 {
    let Some(coupon) = coupon_id.and_then(|id| core.objects.coupons.get(id)) else {
        return amount;
    };
    if let Some(p) = coupon.percent_off {
        let off = ((amount as f64) * p / 100.0).round() as u64;
        amount.saturating_sub(off)
    } else {
        amount.saturating_sub(coupon.amount_off.unwrap_or(0))
    }
}

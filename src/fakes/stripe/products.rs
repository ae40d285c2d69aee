//! Products and prices: just enough to put a recurring price in a Checkout Session.

use serde_json::Value;

use super::core::{Core, Ctx};
use super::state::{Price, Product, StripeMetadata};
use super::wire::{ApiError, Params};

/// `POST /v1/products` parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewProduct {
    /// Name (required).
    pub name: String,
    /// Metadata.
    pub metadata: StripeMetadata,
}

/// `POST /v1/prices` parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewPrice {
    /// `prod_…`, or a name for an inline `product_data[name]`.
    pub product: ProductRef,
    /// Minor units.
    pub unit_amount: u64,
    /// Currency.
    pub currency: String,
    /// `recurring[interval]`.
    pub recurring_interval: Option<String>,
}

/// How a price names its product.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ProductRef {
    /// An existing product.
    Id(String),
    /// `product_data[name]`: create one inline.
    Inline(String),
}

/// Parses `POST /v1/products`.
pub fn parse_product(params: &Params) -> Result<NewProduct, ApiError> {
    params.check_allowed(&["name", "metadata[*]", "expand[#]"])?;
    Ok(NewProduct {
        name: params.required("name")?,
        metadata: params.metadata()?.unwrap_or_default(),
    })
}

/// Parses `POST /v1/prices`.
pub fn parse_price(params: &Params) -> Result<NewPrice, ApiError> {
    params.check_allowed(&[
        "product",
        "product_data[name]",
        "unit_amount",
        "currency",
        "recurring[interval]",
        "expand[#]",
    ])?;
    let product = match (params.string("product")?, params.string("product_data[name]")?) {
        (Some(id), None) => ProductRef::Id(id),
        (None, Some(name)) => ProductRef::Inline(name),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                Some("parameters_exclusive"),
                "You may only specify one of these parameters: product, product_data.",
                Some("product"),
            ))
        }
        (None, None) => return Err(ApiError::missing("product")),
    };
    let interval = params.string("recurring[interval]")?;
    if let Some(i) = &interval {
        if !matches!(i.as_str(), "day" | "week" | "month" | "year") {
            return Err(ApiError::invalid(
                None,
                format!("Invalid recurring[interval]: must be one of day, week, month, or year (got {i})"),
                Some("recurring[interval]"),
            ));
        }
    }
    Ok(NewPrice {
        product,
        unit_amount: params
            .integer("unit_amount")?
            .ok_or_else(|| ApiError::missing("unit_amount"))?,
        currency: params.required("currency")?.to_lowercase(),
        recurring_interval: interval,
    })
}

/// Creates a product.
pub fn create_product(core: &mut Core, ctx: &Ctx<'_>, new: &NewProduct) -> Value {
    let product = Product {
        id: core.id("prod"),
        seq: core.objects.seq(),
        created: ctx.now_secs(),
        name: new.name.clone(),
        metadata: new.metadata.clone(),
    };
    let out = product.to_json();
    core.objects.products.insert(product.id.clone(), product);
    core.emit(ctx, "product.created", out.clone(), None);
    out
}

/// Creates a price (and its product when given inline).
pub fn create_price(core: &mut Core, ctx: &Ctx<'_>, new: &NewPrice) -> Result<Value, ApiError> {
    let product = match &new.product {
        ProductRef::Id(id) => {
            if !core.objects.products.contains_key(id) {
                return Err(ApiError::missing_ref("product", id, "product"));
            }
            id.clone()
        }
        ProductRef::Inline(name) => {
            let made = create_product(
                core,
                ctx,
                &NewProduct {
                    name: name.clone(),
                    metadata: StripeMetadata::new(),
                },
            );
            made["id"].as_str().unwrap_or_default().to_string()
        }
    };
    let price = Price {
        id: core.id("price"),
        seq: core.objects.seq(),
        created: ctx.now_secs(),
        product,
        unit_amount: new.unit_amount,
        currency: new.currency.clone(),
        recurring_interval: new.recurring_interval.clone(),
    };
    let out = price.to_json();
    core.objects.prices.insert(price.id.clone(), price);
    core.emit(ctx, "price.created", out.clone(), None);
    Ok(out)
}

//! Stripe and Clerk clients over any HTTP transport: the same request building and response
//! parsing whether the bytes cross turmoil's simulated TCP, a real socket, or no network at
//! all (an in-process call into the fake).
//!
//! A runtime supplies an [`HttpTransport`]; [`StripeClient`] and [`ClerkClient`] turn it into
//! the [`StripeApi`] and [`ClerkApi`] the app logic is written against. A transport error (no
//! response) becomes `StripeError::Unknown` / `ClerkError::Unknown`: the request may or may
//! not have happened.

use std::collections::BTreeMap;
use std::future::Future;

use serde_json::{json, Value};

use super::api::{
    CheckoutSession, CheckoutSessionCreate, ClerkApi, ClerkError, ClerkEvent, ClerkOrg, ClerkUser, Customer,
    CustomerCreate, OrgCreate, StripeApi, StripeError, StripeEvent, Subscription,
};
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::sync::Arc;
use crate::time::Clock;
use crate::wire::form::percent_encode;
use crate::wire::stripe_signature as webhook;
use crate::wire::svix;

/// Sends one HTTP request and waits for its response.
pub trait HttpTransport: Send + Sync {
    /// `Err(reason)` when no response came (timeout, connection lost, response dropped).
    fn send(&self, request: HttpRequest) -> impl Future<Output = Result<HttpResponse, String>> + Send;
}

/// The test-mode API key racehound's clients send.
pub const TEST_SECRET_KEY: &str = "sk_test_racehound";

/// A [`StripeApi`] over an [`HttpTransport`].
pub struct StripeClient<T> {
    transport: T,
    webhook_secret: String,
    clock: Arc<dyn Clock>,
}

impl<T: HttpTransport> StripeClient<T> {
    /// A client sending through `transport`, verifying webhooks with `webhook_secret`
    /// (`whsec_…`) against `clock`.
    pub fn new(transport: T, webhook_secret: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self {
            transport,
            webhook_secret: webhook_secret.into(),
            clock,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: String,
        form: Vec<(String, String)>,
        idempotency_key: Option<String>,
    ) -> Result<Value, StripeError> {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        let mut request = HttpRequest::new(method, path)
            .with_header("Authorization", format!("Bearer {TEST_SECRET_KEY}"))
            .with_header("Content-Type", "application/x-www-form-urlencoded")
            .with_body(body.join("&"));
        if let Some(key) = idempotency_key {
            request = request.with_header("Idempotency-Key", key);
        }
        let response = self
            .transport
            .send(request)
            .await
            .map_err(|reason| StripeError::Unknown { reason })?;
        stripe_result(&response)
    }
}

/// Turns a Stripe HTTP response into the JSON object or a [`StripeError::Api`].
pub fn stripe_result(response: &HttpResponse) -> Result<Value, StripeError> {
    let body = response.body_json();
    if response.is_success() {
        return Ok(body);
    }
    let error = body.get("error").cloned().unwrap_or(Value::Null);
    Err(StripeError::Api {
        status: response.status,
        error_type: error
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("api_error")
            .to_string(),
        code: error.get("code").and_then(Value::as_str).map(str::to_string),
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    })
}

fn malformed(what: &str, body: &Value) -> StripeError {
    StripeError::Unknown {
        reason: format!("malformed {what} in Stripe response: {body}"),
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Parses a Stripe customer object (or deleted stub).
pub fn parse_customer(body: &Value) -> Result<Customer, StripeError> {
    Ok(Customer {
        id: text(body, "id").ok_or_else(|| malformed("customer", body))?,
        email: text(body, "email"),
        metadata: string_map(body.get("metadata")),
        deleted: body.get("deleted").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn metadata_form(prefix: &str, metadata: &BTreeMap<String, String>, form: &mut Vec<(String, String)>) {
    for (k, v) in metadata {
        form.push((format!("{prefix}[{k}]"), v.clone()));
    }
}

impl<T: HttpTransport> StripeApi for StripeClient<T> {
    async fn create_customer(
        &self,
        params: CustomerCreate,
        idempotency_key: Option<String>,
    ) -> Result<Customer, StripeError> {
        let mut form = Vec::new();
        if let Some(email) = params.email {
            form.push(("email".to_string(), email));
        }
        if let Some(name) = params.name {
            form.push(("name".to_string(), name));
        }
        metadata_form("metadata", &params.metadata, &mut form);
        let body = self
            .call(Method::Post, "/v1/customers".into(), form, idempotency_key)
            .await?;
        parse_customer(&body)
    }

    async fn retrieve_customer(&self, id: String) -> Result<Customer, StripeError> {
        let body = self
            .call(
                Method::Get,
                format!("/v1/customers/{}", percent_encode(&id)),
                vec![],
                None,
            )
            .await?;
        parse_customer(&body)
    }

    async fn update_customer_metadata(
        &self,
        id: String,
        metadata: BTreeMap<String, String>,
    ) -> Result<Customer, StripeError> {
        let mut form = Vec::new();
        metadata_form("metadata", &metadata, &mut form);
        let body = self
            .call(
                Method::Post,
                format!("/v1/customers/{}", percent_encode(&id)),
                form,
                None,
            )
            .await?;
        parse_customer(&body)
    }

    async fn delete_customer(&self, id: String) -> Result<Customer, StripeError> {
        let body = self
            .call(
                Method::Delete,
                format!("/v1/customers/{}", percent_encode(&id)),
                vec![],
                None,
            )
            .await?;
        parse_customer(&body)
    }

    async fn list_customers_by_email(&self, email: String) -> Result<Vec<Customer>, StripeError> {
        let path = format!("/v1/customers?email={}&limit=100", percent_encode(&email));
        let body = self.call(Method::Get, path, vec![], None).await?;
        let data = body
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("list", &body))?;
        data.iter().map(parse_customer).collect()
    }

    async fn search_customers(&self, query: String) -> Result<Vec<Customer>, StripeError> {
        let path = format!("/v1/customers/search?query={}&limit=100", percent_encode(&query));
        let body = self.call(Method::Get, path, vec![], None).await?;
        let data = body
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("search", &body))?;
        data.iter().map(parse_customer).collect()
    }

    async fn create_checkout_session(
        &self,
        params: CheckoutSessionCreate,
        idempotency_key: Option<String>,
    ) -> Result<CheckoutSession, StripeError> {
        let mut form: Vec<(String, String)> = vec![
            ("mode".into(), "subscription".into()),
            ("line_items[0][price]".into(), params.price.clone()),
            ("line_items[0][quantity]".into(), "1".into()),
            ("success_url".into(), "https://app.example/success".into()),
        ];
        if let Some(customer) = params.customer {
            form.push(("customer".into(), customer));
        }
        if let Some(email) = params.customer_email {
            form.push(("customer_email".into(), email));
        }
        if let Some(coupon) = params.coupon {
            form.push(("discounts[0][coupon]".into(), coupon));
        }
        if let Some(code) = params.promotion_code {
            form.push(("discounts[0][promotion_code]".into(), code));
        }
        if params.allow_promotion_codes {
            form.push(("allow_promotion_codes".into(), "true".into()));
        }
        if let Some(reference) = params.client_reference_id {
            form.push(("client_reference_id".into(), reference));
        }
        metadata_form("metadata", &params.metadata, &mut form);
        let body = self
            .call(
                Method::Post,
                "/v1/checkout/sessions".into(),
                form,
                idempotency_key,
            )
            .await?;
        Ok(CheckoutSession {
            id: text(&body, "id").ok_or_else(|| malformed("checkout session", &body))?,
            customer: text(&body, "customer"),
            status: text(&body, "status").unwrap_or_default(),
            subscription: text(&body, "subscription"),
        })
    }

    async fn retrieve_subscription(&self, id: String) -> Result<Subscription, StripeError> {
        let body = self
            .call(
                Method::Get,
                format!("/v1/subscriptions/{}", percent_encode(&id)),
                vec![],
                None,
            )
            .await?;
        Ok(Subscription {
            id: text(&body, "id").ok_or_else(|| malformed("subscription", &body))?,
            customer: text(&body, "customer").unwrap_or_default(),
            status: text(&body, "status").unwrap_or_default(),
            metadata: string_map(body.get("metadata")),
        })
    }

    fn verify_webhook(&self, payload: &[u8], signature_header: &str) -> Result<StripeEvent, String> {
        let now = self.clock.now().unix_secs();
        webhook::verify(
            payload,
            signature_header,
            &self.webhook_secret,
            now,
            webhook::DEFAULT_TOLERANCE_SECS,
        )
        .map_err(|e| format!("{e:?}"))?;
        let event: Value =
            serde_json::from_slice(payload).map_err(|e| format!("payload is not JSON: {e}"))?;
        Ok(StripeEvent {
            id: text(&event, "id").ok_or("event without id")?,
            event_type: text(&event, "type").ok_or("event without type")?,
            object: event
                .get("data")
                .and_then(|d| d.get("object"))
                .cloned()
                .unwrap_or(Value::Null),
        })
    }
}

/// A [`ClerkApi`] over an [`HttpTransport`].
pub struct ClerkClient<T> {
    transport: T,
    webhook_secret: String,
    clock: Arc<dyn Clock>,
}

impl<T: HttpTransport> ClerkClient<T> {
    /// A client sending through `transport`, verifying Svix webhooks with `webhook_secret`.
    pub fn new(transport: T, webhook_secret: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self {
            transport,
            webhook_secret: webhook_secret.into(),
            clock,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: String,
        body: Option<Value>,
    ) -> Result<HttpResponse, ClerkError> {
        let mut request =
            HttpRequest::new(method, path).with_header("Authorization", format!("Bearer {TEST_SECRET_KEY}"));
        if let Some(body) = body {
            request = request
                .with_header("Content-Type", "application/json")
                .with_body(serde_json::to_vec(&body).unwrap_or_default());
        }
        self.transport
            .send(request)
            .await
            .map_err(|reason| ClerkError::Unknown { reason })
    }
}

/// Turns a Clerk HTTP response into the JSON body or a [`ClerkError::Api`].
pub fn clerk_result(response: &HttpResponse) -> Result<Value, ClerkError> {
    let body = response.body_json();
    if response.is_success() {
        return Ok(body);
    }
    let first = body
        .get("errors")
        .and_then(|e| e.get(0))
        .cloned()
        .unwrap_or(Value::Null);
    Err(ClerkError::Api {
        status: response.status,
        code: text(&first, "code").unwrap_or_else(|| "unknown".into()),
        message: text(&first, "message").unwrap_or_default(),
    })
}

fn clerk_malformed(what: &str, body: &Value) -> ClerkError {
    ClerkError::Unknown {
        reason: format!("malformed {what} in Clerk response: {body}"),
    }
}

/// Parses a Clerk user object.
pub fn parse_user(body: &Value) -> Result<ClerkUser, ClerkError> {
    let email = body
        .get("email_addresses")
        .and_then(|e| e.get(0))
        .and_then(|e| e.get("email_address"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(ClerkUser {
        id: text(body, "id").ok_or_else(|| clerk_malformed("user", body))?,
        email,
        public_metadata: body.get("public_metadata").cloned().unwrap_or_else(|| json!({})),
        private_metadata: body.get("private_metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// Parses a Clerk organization object.
pub fn parse_org(body: &Value) -> Result<ClerkOrg, ClerkError> {
    Ok(ClerkOrg {
        id: text(body, "id").ok_or_else(|| clerk_malformed("organization", body))?,
        name: text(body, "name").unwrap_or_default(),
        slug: text(body, "slug"),
        public_metadata: body.get("public_metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

impl<T: HttpTransport> ClerkApi for ClerkClient<T> {
    async fn get_user(&self, id: String) -> Result<ClerkUser, ClerkError> {
        let response = self
            .call(Method::Get, format!("/v1/users/{}", percent_encode(&id)), None)
            .await?;
        parse_user(&clerk_result(&response)?)
    }

    async fn update_user_metadata(
        &self,
        id: String,
        public_metadata: Option<Value>,
        private_metadata: Option<Value>,
    ) -> Result<ClerkUser, ClerkError> {
        let mut patch = serde_json::Map::new();
        if let Some(public) = public_metadata {
            patch.insert("public_metadata".into(), public);
        }
        if let Some(private) = private_metadata {
            patch.insert("private_metadata".into(), private);
        }
        let path = format!("/v1/users/{}/metadata", percent_encode(&id));
        let response = self.call(Method::Patch, path, Some(Value::Object(patch))).await?;
        parse_user(&clerk_result(&response)?)
    }

    async fn create_organization(&self, params: OrgCreate) -> Result<ClerkOrg, ClerkError> {
        let mut body = json!({
            "name": params.name,
            "created_by": params.created_by,
            "public_metadata": params.public_metadata,
            "private_metadata": params.private_metadata,
        });
        if let (Some(slug), Some(map)) = (params.slug, body.as_object_mut()) {
            map.insert("slug".into(), Value::String(slug));
        }
        let response = self
            .call(Method::Post, "/v1/organizations".into(), Some(body))
            .await?;
        parse_org(&clerk_result(&response)?)
    }

    async fn get_organization(&self, id_or_slug: String) -> Result<Option<ClerkOrg>, ClerkError> {
        let response = self
            .call(
                Method::Get,
                format!("/v1/organizations/{}", percent_encode(&id_or_slug)),
                None,
            )
            .await?;
        if response.status == 404 {
            return Ok(None);
        }
        parse_org(&clerk_result(&response)?).map(Some)
    }

    async fn delete_organization(&self, id: String) -> Result<(), ClerkError> {
        let response = self
            .call(
                Method::Delete,
                format!("/v1/organizations/{}", percent_encode(&id)),
                None,
            )
            .await?;
        clerk_result(&response).map(|_| ())
    }

    async fn list_user_organizations(&self, user_id: String) -> Result<Vec<ClerkOrg>, ClerkError> {
        let path = format!(
            "/v1/users/{}/organization_memberships?limit=100",
            percent_encode(&user_id)
        );
        let response = self.call(Method::Get, path, None).await?;
        let body = clerk_result(&response)?;
        let data = body
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| clerk_malformed("list", &body))?;
        data.iter()
            .map(|m| parse_org(m.get("organization").unwrap_or(&Value::Null)))
            .collect()
    }

    fn verify_webhook(
        &self,
        svix_id: &str,
        svix_timestamp: &str,
        svix_signature: &str,
        payload: &[u8],
    ) -> Result<ClerkEvent, String> {
        let now = self.clock.now().unix_secs();
        svix::verify(
            &self.webhook_secret,
            (Some(svix_id), Some(svix_timestamp), Some(svix_signature)),
            payload,
            now,
        )
        .map_err(|e| format!("{e:?}"))?;
        let event: Value =
            serde_json::from_slice(payload).map_err(|e| format!("payload is not JSON: {e}"))?;
        Ok(ClerkEvent {
            svix_id: svix_id.to_string(),
            event_type: text(&event, "type").ok_or("event without type")?,
            data: event.get("data").cloned().unwrap_or(Value::Null),
        })
    }
}

//! Clerk users: create, read, list, update (metadata replaced), delete (memberships cascade).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::metadata::{self, ClerkMetadata};
use super::wire::{Body, ClerkErrorBody, MetadataPatch, Query};
use super::Clerk;
use crate::time::SimTime;

/// Most email addresses one user may have.
pub const MAX_EMAILS_PER_USER: usize = 10;

/// One of a user's email addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailAddress {
    /// `idn_…`
    pub id: String,
    /// The address, lowercased.
    pub email_address: String,
}

/// A Clerk user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// `user_…`
    pub id: String,
    /// Creation order across all objects (ties in `created_at` sort by it).
    pub seq: u64,
    /// The caller's own id for the user.
    pub external_id: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Email addresses; the first is primary.
    pub email_addresses: Vec<EmailAddress>,
    /// Readable by the frontend, writable by the backend.
    pub public_metadata: ClerkMetadata,
    /// Backend only.
    pub private_metadata: ClerkMetadata,
    /// Readable and writable by the frontend.
    pub unsafe_metadata: ClerkMetadata,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: u64,
}

impl User {
    /// The primary email address, if any.
    pub fn primary_email(&self) -> Option<&str> {
        self.email_addresses
            .first()
            .map(|email| email.email_address.as_str())
    }

    /// The user as the Backend API renders it.
    pub fn to_json(&self) -> Value {
        let emails: Vec<Value> = self
            .email_addresses
            .iter()
            .map(|email| {
                json!({
                    "id": email.id,
                    "object": "email_address",
                    "email_address": email.email_address,
                    "reserved": false,
                    "created_at": self.created_at,
                    "updated_at": self.updated_at,
                    "verification": {"object": "verification_admin", "status": "verified", "strategy": "admin", "attempts": null, "expire_at": null},
                    "linked_to": [],
                })
            })
            .collect();
        json!({
            "id": self.id,
            "object": "user",
            "external_id": self.external_id,
            "username": null,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "image_url": "https://img.clerk.com/default",
            "has_image": false,
            "primary_email_address_id": self.email_addresses.first().map(|email| email.id.clone()),
            "primary_phone_number_id": null,
            "email_addresses": emails,
            "phone_numbers": [],
            "public_metadata": self.public_metadata,
            "private_metadata": self.private_metadata,
            "unsafe_metadata": self.unsafe_metadata,
            "banned": false,
            "locked": false,
            "primary_web3_wallet_id": null,
            "web3_wallets": [],
            "passkeys": [],
            "password_enabled": false,
            "two_factor_enabled": false,
            "totp_enabled": false,
            "backup_code_enabled": false,
            "mfa_enabled_at": null,
            "mfa_disabled_at": null,
            "external_accounts": [],
            "saml_accounts": [],
            "enterprise_accounts": [],
            "last_sign_in_at": null,
            "lockout_expires_in_seconds": null,
            "verification_attempts_remaining": 100,
            "delete_self_enabled": true,
            "create_organization_enabled": true,
            "last_active_at": null,
            "legal_accepted_at": null,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    fn metadata_size_ok(&self) -> Result<(), ClerkErrorBody> {
        let size = metadata::total_size_bytes(&[
            &self.public_metadata,
            &self.private_metadata,
            &self.unsafe_metadata,
        ]);
        if size > metadata::MAX_METADATA_BYTES {
            return Err(ClerkErrorBody::value_invalid(
                "metadata",
                "all metadata together must be at most 8KB (hint: store large data in your own database)",
            ));
        }
        Ok(())
    }
}

/// Parameters of `POST /v1/users`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateUser {
    /// `email_address[]`
    pub email_addresses: Vec<String>,
    /// `first_name`
    pub first_name: Option<String>,
    /// `last_name`
    pub last_name: Option<String>,
    /// `external_id`
    pub external_id: Option<String>,
    /// `public_metadata`
    pub public_metadata: Option<ClerkMetadata>,
    /// `private_metadata`
    pub private_metadata: Option<ClerkMetadata>,
    /// `unsafe_metadata`
    pub unsafe_metadata: Option<ClerkMetadata>,
}

/// The fields of `POST /v1/users` the fake models; all but the first (`email_address`) are
/// also the fields of `PATCH /v1/users/{id}`.
const CREATE_USER_FIELDS: &[&str] = &[
    "email_address",
    "first_name",
    "last_name",
    "external_id",
    "public_metadata",
    "private_metadata",
    "unsafe_metadata",
];

impl CreateUser {
    /// A user with one email address and nothing else.
    pub fn with_email(email: &str) -> Self {
        Self {
            email_addresses: vec![email.to_string()],
            ..Self::default()
        }
    }

    pub(crate) fn from_body(body: &Body) -> Result<Self, ClerkErrorBody> {
        body.refuse_unmodelled("POST /v1/users", CREATE_USER_FIELDS)?;
        Ok(Self {
            email_addresses: body.str_list("email_address")?,
            first_name: body.opt_str("first_name")?,
            last_name: body.opt_str("last_name")?,
            external_id: body.opt_str("external_id")?,
            public_metadata: body.opt_metadata("public_metadata")?,
            private_metadata: body.opt_metadata("private_metadata")?,
            unsafe_metadata: body.opt_metadata("unsafe_metadata")?,
        })
    }
}

/// Parameters of `PATCH /v1/users/{id}`: given fields replace, metadata included (no merge).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateUser {
    /// `first_name`
    pub first_name: Option<String>,
    /// `last_name`
    pub last_name: Option<String>,
    /// `external_id`
    pub external_id: Option<String>,
    /// `public_metadata` (replaces)
    pub public_metadata: Option<ClerkMetadata>,
    /// `private_metadata` (replaces)
    pub private_metadata: Option<ClerkMetadata>,
    /// `unsafe_metadata` (replaces)
    pub unsafe_metadata: Option<ClerkMetadata>,
}

impl UpdateUser {
    pub(crate) fn from_body(body: &Body) -> Result<Self, ClerkErrorBody> {
        body.refuse_unmodelled("PATCH /v1/users/{id}", &CREATE_USER_FIELDS[1..])?;
        Ok(Self {
            first_name: body.opt_str("first_name")?,
            last_name: body.opt_str("last_name")?,
            external_id: body.opt_str("external_id")?,
            public_metadata: body.opt_metadata("public_metadata")?,
            private_metadata: body.opt_metadata("private_metadata")?,
            unsafe_metadata: body.opt_metadata("unsafe_metadata")?,
        })
    }
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.len() <= 254
}

impl Clerk {
    /// Creates a user; 422 `form_identifier_exists` if an email address is taken.
    pub fn create_user(&mut self, now: SimTime, params: CreateUser) -> Result<User, ClerkErrorBody> {
        self.check_capacity()?;
        if params.email_addresses.len() > MAX_EMAILS_PER_USER {
            return Err(ClerkErrorBody::value_invalid(
                "email_address",
                "too many email addresses",
            ));
        }
        for (i, email) in params.email_addresses.iter().enumerate() {
            if !valid_email(email) {
                return Err(ClerkErrorBody::format_invalid(
                    "email_address",
                    "must be a valid email address",
                ));
            }
            let taken_here = params
                .email_addresses
                .iter()
                .take(i)
                .any(|e| e.eq_ignore_ascii_case(email));
            if taken_here || self.email_taken(email) {
                return Err(ClerkErrorBody::identifier_exists(
                    "email_address",
                    "That email address is taken. Please try another.",
                ));
            }
        }
        let id = self.ids.next("user");
        let email_addresses = params
            .email_addresses
            .iter()
            .map(|email| EmailAddress {
                id: self.ids.next("idn"),
                email_address: email.to_lowercase(),
            })
            .collect();
        let user = User {
            id: id.clone(),
            seq: self.next_seq(),
            external_id: params.external_id,
            first_name: params.first_name,
            last_name: params.last_name,
            email_addresses,
            public_metadata: params.public_metadata.unwrap_or_default(),
            private_metadata: params.private_metadata.unwrap_or_default(),
            unsafe_metadata: params.unsafe_metadata.unwrap_or_default(),
            created_at: now.unix_ms(),
            updated_at: now.unix_ms(),
        };
        user.metadata_size_ok()?;
        self.users.insert(id, user.clone());
        self.emit(now, "user.created", user.to_json());
        Ok(user)
    }

    fn email_taken(&self, email: &str) -> bool {
        self.users.values().any(|user| {
            user.email_addresses
                .iter()
                .any(|e| e.email_address.eq_ignore_ascii_case(email))
        })
    }

    /// The user `id`, or 404.
    pub fn user(&self, id: &str) -> Result<&User, ClerkErrorBody> {
        self.users
            .get(id)
            .ok_or_else(|| ClerkErrorBody::not_found("user"))
    }

    /// `GET /v1/users`: a plain JSON array (not `{data,total_count}`), newest first, filtered by
    /// `email_address`, `external_id`, `user_id` (each repeatable) and `query`.
    pub(crate) fn list_users(&self, query: &Query) -> Result<Value, ClerkErrorBody> {
        let (limit, offset) = query.page()?;
        let users = self.users_matching(query);
        Ok(Value::Array(
            users
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(User::to_json)
                .collect(),
        ))
    }

    /// `GET /v1/users/count`: how many users the list's filters match,
    /// `{"object":"total_count","total_count":N}`.
    pub(crate) fn count_users(&self, query: &Query) -> Value {
        let total = self.users_matching(query).len();
        serde_json::json!({ "object": "total_count", "total_count": total })
    }

    /// The users `GET /v1/users`' filters match, newest first.
    fn users_matching(&self, query: &Query) -> Vec<&User> {
        let emails = query.all("email_address");
        let external_ids = query.all("external_id");
        let user_ids = query.all("user_id");
        let text = query.first("query").map(str::to_lowercase);
        let mut users: Vec<&User> = self
            .users
            .values()
            .filter(|user| {
                emails.is_empty()
                    || user
                        .email_addresses
                        .iter()
                        .any(|e| emails.iter().any(|q| q.eq_ignore_ascii_case(&e.email_address)))
            })
            .filter(|user| {
                external_ids.is_empty()
                    || external_ids
                        .iter()
                        .any(|q| user.external_id.as_deref() == Some(q))
            })
            .filter(|user| user_ids.is_empty() || user_ids.contains(&user.id))
            .filter(|user| {
                text.as_deref().is_none_or(|needle| {
                    let hay = [
                        Some(user.id.as_str()),
                        user.first_name.as_deref(),
                        user.last_name.as_deref(),
                        user.primary_email(),
                    ];
                    hay.iter()
                        .flatten()
                        .any(|field| field.to_lowercase().contains(needle))
                })
            })
            .collect();
        users.sort_by_key(|x| std::cmp::Reverse((x.created_at, x.seq)));
        users
    }

    /// `PATCH /v1/users/{id}`: given fields replace; metadata objects are replaced wholesale.
    pub fn update_user(
        &mut self,
        now: SimTime,
        id: &str,
        params: UpdateUser,
    ) -> Result<User, ClerkErrorBody> {
        let mut user = self.user(id)?.clone();
        if params.first_name.is_some() {
            user.first_name = params.first_name;
        }
        if params.last_name.is_some() {
            user.last_name = params.last_name;
        }
        if params.external_id.is_some() {
            user.external_id = params.external_id;
        }
        if let Some(value) = params.public_metadata {
            user.public_metadata = value;
        }
        if let Some(value) = params.private_metadata {
            user.private_metadata = value;
        }
        if let Some(value) = params.unsafe_metadata {
            user.unsafe_metadata = value;
        }
        user.metadata_size_ok()?;
        user.updated_at = now.unix_ms();
        self.users.insert(user.id.clone(), user.clone());
        self.emit(now, "user.updated", user.to_json());
        Ok(user)
    }

    /// `PATCH /v1/users/{id}/metadata`: deep merge, no compare-and-set (last writer wins).
    pub fn merge_user_metadata(
        &mut self,
        now: SimTime,
        id: &str,
        patch: &MetadataPatch,
    ) -> Result<User, ClerkErrorBody> {
        let mut user = self.user(id)?.clone();
        if let Some(value) = &patch.public {
            metadata::deep_merge(&mut user.public_metadata, value);
        }
        if let Some(value) = &patch.private {
            metadata::deep_merge(&mut user.private_metadata, value);
        }
        if let Some(value) = &patch.unsafe_ {
            metadata::deep_merge(&mut user.unsafe_metadata, value);
        }
        user.metadata_size_ok()?;
        user.updated_at = now.unix_ms();
        self.users.insert(user.id.clone(), user.clone());
        self.emit(now, "user.updated", user.to_json());
        Ok(user)
    }

    /// `DELETE /v1/users/{id}`: removes the user and their memberships.
    pub fn delete_user(&mut self, now: SimTime, id: &str) -> Result<Value, ClerkErrorBody> {
        let user = self.user(id)?.clone();
        let membership_ids: Vec<String> = self
            .memberships
            .values()
            .filter(|membership| membership.user_id == user.id)
            .map(|membership| membership.id.clone())
            .collect();
        for membership_id in membership_ids {
            if let Some(membership) = self.memberships.remove(&membership_id) {
                let data = self.membership_json(&membership);
                self.emit(now, "organizationMembership.deleted", data);
            }
        }
        self.users.remove(&user.id);
        let deleted = json!({"id": user.id, "object": "user", "deleted": true});
        self.emit(now, "user.deleted", deleted.clone());
        Ok(deleted)
    }
}

//! Clerk organizations and memberships. Names are not unique; slugs are unique per instance;
//! there is no idempotency key.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::metadata::{self, ClerkMetadata};
use super::wire::{Body, ClerkErrorBody, MetadataPatch, Query};
use super::Clerk;
use crate::time::SimTime;

/// Longest slug accepted, in bytes.
pub const MAX_SLUG_LEN: usize = 100;

/// A Clerk organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    /// `org_…`
    pub id: String,
    /// Creation order across all objects.
    pub seq: u64,
    /// Display name; not unique.
    pub name: String,
    /// Unique per instance.
    pub slug: String,
    /// `0` means unlimited.
    pub max_allowed_memberships: u64,
    /// Readable by the frontend.
    pub public_metadata: ClerkMetadata,
    /// Backend only.
    pub private_metadata: ClerkMetadata,
    /// The user who created it, if any.
    pub created_by: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: u64,
}

impl Organization {
    /// The organization as the Backend API renders it.
    pub fn to_json(&self) -> Value {
        json!({
            "object": "organization",
            "id": self.id,
            "name": self.name,
            "slug": self.slug,
            "image_url": "https://img.clerk.com/default",
            "has_image": false,
            "max_allowed_memberships": self.max_allowed_memberships,
            "admin_delete_enabled": true,
            "public_metadata": self.public_metadata,
            "private_metadata": self.private_metadata,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    fn metadata_size_ok(&self) -> Result<(), ClerkErrorBody> {
        if metadata::total_size_bytes(&[&self.public_metadata, &self.private_metadata])
            > metadata::MAX_METADATA_BYTES
        {
            return Err(ClerkErrorBody::value_invalid(
                "metadata",
                "all metadata together must be at most 8KB (hint: store large data in your own database)",
            ));
        }
        Ok(())
    }
}

/// A user's membership in an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// `orgmem_…`
    pub id: String,
    /// Creation order across all objects.
    pub seq: u64,
    /// The organization.
    pub organization_id: String,
    /// The member.
    pub user_id: String,
    /// `org:admin` or `org:member`.
    pub role: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: u64,
}

/// Parameters of `POST /v1/organizations`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateOrganization {
    /// Required; not unique.
    pub name: String,
    /// The user who becomes its first `org:admin`.
    pub created_by: Option<String>,
    /// Unique per instance; generated from the name when absent.
    pub slug: Option<String>,
    /// `0` means unlimited.
    pub max_allowed_memberships: Option<u64>,
    /// `public_metadata`
    pub public_metadata: Option<ClerkMetadata>,
    /// `private_metadata`
    pub private_metadata: Option<ClerkMetadata>,
}

impl CreateOrganization {
    pub(crate) fn from_body(body: &Body) -> Result<Self, ClerkErrorBody> {
        Ok(Self {
            name: body.req_str("name")?,
            created_by: body.opt_str("created_by")?,
            slug: body.opt_str("slug")?,
            max_allowed_memberships: body.opt_u64("max_allowed_memberships")?,
            public_metadata: body.opt_metadata("public_metadata")?,
            private_metadata: body.opt_metadata("private_metadata")?,
        })
    }
}

/// Parameters of `PATCH /v1/organizations/{id}`: given fields replace, metadata included.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateOrganization {
    /// `name`
    pub name: Option<String>,
    /// `slug` (must stay unique)
    pub slug: Option<String>,
    /// `max_allowed_memberships`
    pub max_allowed_memberships: Option<u64>,
    /// `public_metadata` (replaces)
    pub public_metadata: Option<ClerkMetadata>,
    /// `private_metadata` (replaces)
    pub private_metadata: Option<ClerkMetadata>,
}

impl UpdateOrganization {
    pub(crate) fn from_body(body: &Body) -> Result<Self, ClerkErrorBody> {
        Ok(Self {
            name: body.opt_str("name")?,
            slug: body.opt_str("slug")?,
            max_allowed_memberships: body.opt_u64("max_allowed_memberships")?,
            public_metadata: body.opt_metadata("public_metadata")?,
            private_metadata: body.opt_metadata("private_metadata")?,
        })
    }
}

/// Whether `slug` is a valid Clerk slug: lowercase ASCII letters, digits and `-`, non-empty.
pub fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= MAX_SLUG_LEN
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Lowercases `name` and turns every run of other characters into one `-`.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= MAX_SLUG_LEN - 20 {
            break;
        }
    }
    out.trim_end_matches('-').to_string()
}

fn slug_taken_error() -> ClerkErrorBody {
    ClerkErrorBody::identifier_exists("slug", "That slug is taken. Please try another.")
}

/// A role the fake models, or Clerk's 422 for the `role` parameter.
fn check_role(role: &str) -> Result<(), ClerkErrorBody> {
    if valid_role(role) {
        Ok(())
    } else {
        Err(ClerkErrorBody::value_invalid(
            "role",
            "must be org:admin or org:member",
        ))
    }
}

fn valid_role(role: &str) -> bool {
    role == "org:admin" || role == "org:member"
}

impl Clerk {
    /// Creates an organization. Never deduplicates by name; a taken slug is 422.
    pub fn create_organization(
        &mut self,
        now: SimTime,
        params: CreateOrganization,
    ) -> Result<Organization, ClerkErrorBody> {
        self.check_capacity()?;
        if params.name.trim().is_empty() {
            return Err(ClerkErrorBody::param_missing("name"));
        }
        if let Some(creator) = &params.created_by {
            self.user(creator)?;
        }
        let id = self.ids.next("org");
        let slug = match params.slug {
            Some(slug) => {
                if !valid_slug(&slug) {
                    return Err(ClerkErrorBody::format_invalid(
                        "slug",
                        "can contain only lowercase alphanumeric characters and the dash \"-\"",
                    ));
                }
                if self.org_by_slug(&slug).is_some() {
                    return Err(slug_taken_error());
                }
                slug
            }
            None => self.generated_slug(&params.name, &id),
        };
        let org = Organization {
            id: id.clone(),
            seq: self.next_seq(),
            name: params.name,
            slug,
            max_allowed_memberships: params.max_allowed_memberships.unwrap_or(0),
            public_metadata: params.public_metadata.unwrap_or_default(),
            private_metadata: params.private_metadata.unwrap_or_default(),
            created_by: params.created_by.clone(),
            created_at: now.unix_ms(),
            updated_at: now.unix_ms(),
        };
        org.metadata_size_ok()?;
        self.orgs.insert(id.clone(), org.clone());
        self.emit(now, "organization.created", org.to_json());
        if let Some(creator) = params.created_by {
            self.insert_membership(now, &id, &creator, "org:admin");
        }
        Ok(org)
    }

    /// A unique slug for an organization created without one: the slugified name plus a
    /// suffix from the org id (Clerk generates one; auto-generated slugs do not collide).
    fn generated_slug(&self, name: &str, org_id: &str) -> String {
        let base = slugify(name);
        let suffix: String = org_id
            .trim_start_matches("org_")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let mut candidate = if base.is_empty() {
            suffix.clone()
        } else {
            format!("{base}-{suffix}")
        };
        let mut n = 2u32;
        while self.org_by_slug(&candidate).is_some() && n < 1000 {
            candidate = format!("{base}-{suffix}-{n}");
            n += 1;
        }
        candidate
    }

    fn org_by_slug(&self, slug: &str) -> Option<&Organization> {
        self.orgs.values().find(|org| org.slug == slug)
    }

    /// The organization with this id or slug, or 404.
    pub fn organization(&self, id_or_slug: &str) -> Result<&Organization, ClerkErrorBody> {
        self.orgs
            .get(id_or_slug)
            .or_else(|| self.org_by_slug(id_or_slug))
            .ok_or_else(|| ClerkErrorBody::not_found("organization"))
    }

    /// `GET /v1/organizations?query=&limit=&offset=`: `{data, total_count}`, newest first.
    pub(crate) fn list_organizations(&self, query: &Query) -> Result<Value, ClerkErrorBody> {
        let (limit, offset) = query.page()?;
        let needle = query.first("query").map(str::to_lowercase);
        let mut orgs: Vec<&Organization> = self
            .orgs
            .values()
            .filter(|org| {
                needle.as_deref().is_none_or(|needle| {
                    org.id.to_lowercase().contains(needle)
                        || org.name.to_lowercase().contains(needle)
                        || org.slug.contains(needle)
                })
            })
            .collect();
        orgs.sort_by_key(|x| std::cmp::Reverse((x.created_at, x.seq)));
        // Clerk counts members only when asked (`include_members_count=true`).
        let with_count = query.first("include_members_count") == Some("true");
        let items = orgs
            .into_iter()
            .map(|org| {
                let mut value = org.to_json();
                if let (true, Value::Object(map)) = (with_count, &mut value) {
                    map.insert("members_count".to_string(), json!(self.members_count(&org.id)));
                }
                value
            })
            .collect();
        Ok(super::wire::paginated(items, limit, offset))
    }

    fn members_count(&self, org_id: &str) -> usize {
        self.memberships
            .values()
            .filter(|m| m.organization_id == org_id)
            .count()
    }

    /// `PATCH /v1/organizations/{id}`: given fields replace; the slug must stay unique.
    pub fn update_organization(
        &mut self,
        now: SimTime,
        id: &str,
        params: UpdateOrganization,
    ) -> Result<Organization, ClerkErrorBody> {
        let mut org = self.organization(id)?.clone();
        if let Some(name) = params.name {
            if name.trim().is_empty() {
                return Err(ClerkErrorBody::format_invalid("name", "must not be blank"));
            }
            org.name = name;
        }
        if let Some(slug) = params.slug {
            if !valid_slug(&slug) {
                return Err(ClerkErrorBody::format_invalid(
                    "slug",
                    "can contain only lowercase alphanumeric characters and the dash \"-\"",
                ));
            }
            if self.org_by_slug(&slug).is_some_and(|other| other.id != org.id) {
                return Err(slug_taken_error());
            }
            org.slug = slug;
        }
        if let Some(max) = params.max_allowed_memberships {
            org.max_allowed_memberships = max;
        }
        if let Some(value) = params.public_metadata {
            org.public_metadata = value;
        }
        if let Some(value) = params.private_metadata {
            org.private_metadata = value;
        }
        org.metadata_size_ok()?;
        org.updated_at = now.unix_ms();
        self.orgs.insert(org.id.clone(), org.clone());
        self.emit(now, "organization.updated", org.to_json());
        Ok(org)
    }

    /// `PATCH /v1/organizations/{id}/metadata`: deep merge, last writer wins.
    pub fn merge_organization_metadata(
        &mut self,
        now: SimTime,
        id: &str,
        patch: &MetadataPatch,
    ) -> Result<Organization, ClerkErrorBody> {
        let mut org = self.organization(id)?.clone();
        if let Some(value) = &patch.public {
            metadata::deep_merge(&mut org.public_metadata, value);
        }
        if let Some(value) = &patch.private {
            metadata::deep_merge(&mut org.private_metadata, value);
        }
        org.metadata_size_ok()?;
        org.updated_at = now.unix_ms();
        self.orgs.insert(org.id.clone(), org.clone());
        self.emit(now, "organization.updated", org.to_json());
        Ok(org)
    }

    /// `DELETE /v1/organizations/{id}`: removes the organization and its memberships.
    pub fn delete_organization(&mut self, now: SimTime, id: &str) -> Result<Value, ClerkErrorBody> {
        let org_id = self.organization(id)?.id.clone();
        self.memberships
            .retain(|_, membership| membership.organization_id != org_id);
        self.orgs.remove(&org_id);
        let deleted = json!({"object": "organization", "id": org_id, "deleted": true});
        self.emit(now, "organization.deleted", deleted.clone());
        Ok(deleted)
    }

    /// `POST /v1/organizations/{id}/memberships`.
    pub fn create_membership(
        &mut self,
        now: SimTime,
        org_id: &str,
        user_id: &str,
        role: &str,
    ) -> Result<Value, ClerkErrorBody> {
        self.check_capacity()?;
        let org = self.organization(org_id)?.clone();
        self.user(user_id)?;
        check_role(role)?;
        if self.membership(&org.id, user_id).is_some() {
            return Err(ClerkErrorBody::new(
                422,
                "already_a_member_in_organization",
                "already a member",
                format!("User {user_id} is already a member of the organization."),
            ));
        }
        let count = self.members_count(&org.id);
        if org.max_allowed_memberships > 0 && count as u64 >= org.max_allowed_memberships {
            return Err(ClerkErrorBody::new(
                403,
                "organization_membership_quota_exceeded",
                "membership quota exceeded",
                "You have reached your limit of organization memberships. (hint: raise max_allowed_memberships)",
            ));
        }
        let membership = self.insert_membership(now, &org.id, user_id, role);
        Ok(self.membership_json(&membership))
    }

    fn insert_membership(&mut self, now: SimTime, org_id: &str, user_id: &str, role: &str) -> Membership {
        let membership = Membership {
            id: self.ids.next("orgmem"),
            seq: self.next_seq(),
            organization_id: org_id.to_string(),
            user_id: user_id.to_string(),
            role: role.to_string(),
            created_at: now.unix_ms(),
            updated_at: now.unix_ms(),
        };
        self.memberships.insert(membership.id.clone(), membership.clone());
        let data = self.membership_json(&membership);
        self.emit(now, "organizationMembership.created", data);
        membership
    }

    fn membership(&self, org_id: &str, user_id: &str) -> Option<&Membership> {
        self.memberships
            .values()
            .find(|m| m.organization_id == org_id && m.user_id == user_id)
    }

    /// `DELETE /v1/organizations/{id}/memberships/{user_id}`.
    pub fn delete_membership(
        &mut self,
        now: SimTime,
        org_id: &str,
        user_id: &str,
    ) -> Result<Value, ClerkErrorBody> {
        let org_id = self.organization(org_id)?.id.clone();
        let membership = self
            .membership(&org_id, user_id)
            .cloned()
            .ok_or_else(|| ClerkErrorBody::not_found("organization membership"))?;
        self.memberships.remove(&membership.id);
        let data = self.membership_json(&membership);
        self.emit(now, "organizationMembership.deleted", data.clone());
        Ok(data)
    }

    /// `PATCH /v1/organizations/{id}/memberships/{user_id}`: changes the member's role.
    pub fn update_membership(
        &mut self,
        now: SimTime,
        org_id: &str,
        user_id: &str,
        role: &str,
    ) -> Result<Value, ClerkErrorBody> {
        let org_id = self.organization(org_id)?.id.clone();
        check_role(role)?;
        let id = self
            .membership(&org_id, user_id)
            .map(|m| m.id.clone())
            .ok_or_else(|| ClerkErrorBody::not_found("organization membership"))?;
        let membership = match self.memberships.get_mut(&id) {
            Some(membership) => {
                membership.role = role.to_string();
                membership.updated_at = now.unix_ms();
                membership.clone()
            }
            None => return Err(ClerkErrorBody::not_found("organization membership")),
        };
        let data = self.membership_json(&membership);
        self.emit(now, "organizationMembership.updated", data.clone());
        Ok(data)
    }

    /// A membership as the Backend API renders it (with the organization and public user data).
    pub fn membership_json(&self, membership: &Membership) -> Value {
        let organization = self
            .orgs
            .get(&membership.organization_id)
            .map_or(json!({"id": membership.organization_id}), Organization::to_json);
        let user = self.users.get(&membership.user_id);
        json!({
            "object": "organization_membership",
            "id": membership.id,
            "role": membership.role,
            "role_name": if membership.role == "org:admin" { "Admin" } else { "Member" },
            "permissions": [],
            "public_metadata": {},
            "private_metadata": {},
            "organization": organization,
            "public_user_data": {
                "user_id": membership.user_id,
                "first_name": user.and_then(|u| u.first_name.clone()),
                "last_name": user.and_then(|u| u.last_name.clone()),
                "identifier": user.and_then(|u| u.primary_email().map(str::to_string)),
                "profile_image_url": "https://img.clerk.com/default",
                "image_url": "https://img.clerk.com/default",
                "has_image": false,
            },
            "created_at": membership.created_at,
            "updated_at": membership.updated_at,
        })
    }

    fn memberships_sorted(&self, keep: impl Fn(&Membership) -> bool) -> Vec<&Membership> {
        let mut list: Vec<&Membership> = self.memberships.values().filter(|m| keep(m)).collect();
        list.sort_by_key(|x| std::cmp::Reverse((x.created_at, x.seq)));
        list
    }

    /// `GET /v1/users/{id}/organization_memberships`, newest first (404 for an unknown user).
    pub(crate) fn user_memberships_json(&self, user_id: &str) -> Result<Vec<Value>, ClerkErrorBody> {
        self.user(user_id)?;
        Ok(self
            .memberships_sorted(|m| m.user_id == user_id)
            .into_iter()
            .map(|m| self.membership_json(m))
            .collect())
    }

    /// `GET /v1/organizations/{id}/memberships`, newest first.
    pub(crate) fn organization_memberships_json(&self, org_id: &str) -> Result<Vec<Value>, ClerkErrorBody> {
        let org_id = self.organization(org_id)?.id.clone();
        Ok(self
            .memberships_sorted(|m| m.organization_id == org_id)
            .into_iter()
            .map(|m| self.membership_json(m))
            .collect())
    }
}

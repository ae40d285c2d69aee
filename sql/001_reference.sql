-- racehound reference implementation: the tables it needs (PostgreSQL 13+).
-- Derived from `Reference.schema()`; tests/pg_differential.rs checks that this file creates
-- exactly these tables, columns, NOT NULLs, primary keys and unique constraints.
-- Unqualified names: the tables land in the first schema of `search_path`.

-- One row per tenant (the seed-004 table). `stripe_customer_id` is stored by
-- ensure_stripe_customer with a compare-and-set (`... WHERE stripe_customer_id IS NULL`).
CREATE TABLE IF NOT EXISTS tenants (
    id bigint NOT NULL,
    owner_user_id text NOT NULL,
    email text NOT NULL,
    stripe_customer_id text,
    CONSTRAINT tenants_pkey PRIMARY KEY (id)
);

-- Per tenant, the customer-creation key in use: its generation (`customer:{id}`,
-- `customer:{id}:1`, ... moved on by compare-and-set after a 5xx Stripe saved under the key)
-- and when it was first sent (ms since the epoch): past 23 h the reference looks for the
-- customer before sending the key again, because Stripe forgets keys after 24 h.
-- (Added after 0.1.0: re-applying this file creates it.)
CREATE TABLE IF NOT EXISTS customer_claims (
    tenant_id bigint NOT NULL,
    generation bigint NOT NULL,
    key_first_sent_ms bigint,
    CONSTRAINT customer_claims_pkey PRIMARY KEY (tenant_id)
);

-- Stripe webhook dedupe: one row per processed event id, written in the same transaction as
-- the event's effect.
CREATE TABLE IF NOT EXISTS stripe_events (
    event_id text NOT NULL,
    event_type text NOT NULL,
    CONSTRAINT stripe_events_pkey PRIMARY KEY (event_id)
);

-- Current state of each Stripe subscription (fetched from Stripe, never taken from the event).
CREATE TABLE IF NOT EXISTS subscriptions (
    stripe_subscription_id text NOT NULL,
    stripe_customer_id text NOT NULL,
    status text NOT NULL,
    CONSTRAINT subscriptions_pkey PRIMARY KEY (stripe_subscription_id)
);

-- One profile row per signed-up user (INSERT ... ON CONFLICT DO NOTHING).
CREATE TABLE IF NOT EXISTS profiles (
    user_id text NOT NULL,
    email text NOT NULL,
    CONSTRAINT profiles_pkey PRIMARY KEY (user_id)
);

-- The claim for one Clerk team org per (user, plan); the slug is Clerk's idempotency key.
CREATE TABLE IF NOT EXISTS team_orgs (
    user_id text NOT NULL,
    plan text NOT NULL,
    slug text NOT NULL,
    clerk_org_id text,
    CONSTRAINT team_orgs_pkey PRIMARY KEY (user_id, plan),
    CONSTRAINT team_orgs_slug_key UNIQUE (slug)
);

-- Clerk (Svix) webhook dedupe: one row per processed svix-id.
CREATE TABLE IF NOT EXISTS clerk_events (
    svix_id text NOT NULL,
    event_type text NOT NULL,
    CONSTRAINT clerk_events_pkey PRIMARY KEY (svix_id)
);

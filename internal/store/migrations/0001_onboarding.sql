-- Tenants: one per signed-up user, created by UserOnboarding's CreateTenant.
CREATE TABLE tenants (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_user_id      text NOT NULL UNIQUE,
    owner_email        text NOT NULL,
    stripe_customer_id text,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- Outbound mail already handed to the SMTP server, keyed by a deterministic key, so a
-- retried activity does not send the same email twice.
CREATE TABLE sent_emails (
    key        text PRIMARY KEY,
    recipient  text NOT NULL,
    subject    text NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now()
);

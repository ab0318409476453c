-- PaymentProcessing finds the tenant of a stripe.paid event by its Stripe customer.
CREATE INDEX tenants_stripe_customer_id ON tenants (stripe_customer_id);

-- Payments, one per Stripe payment id, recorded by PaymentProcessing's RecordPayment.
-- The first recording wins; a retried activity or a repeated event finds the row.
CREATE TABLE payments (
    payment_id  text PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    customer_id text NOT NULL,
    amount      bigint NOT NULL CHECK (amount >= 0), -- in the currency's minor unit
    currency    text NOT NULL,                       -- ISO 4217, lower case
    line_items  jsonb NOT NULL DEFAULT '[]',          -- [{description, amount, quantity}]
    event_id    text NOT NULL,                        -- the stripe.paid event that carried it
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_tenant_id ON payments (tenant_id, recorded_at);

-- In-app notifications shown to a tenant's users. key is deterministic (one per fact, such
-- as "payment/<id>/processed"), so a retried activity adds the notification once.
CREATE TABLE notifications (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key        text NOT NULL UNIQUE,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    kind       text NOT NULL,
    title      text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz
);
CREATE INDEX notifications_unread ON notifications (tenant_id, created_at) WHERE read_at IS NULL;

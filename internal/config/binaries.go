package config

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	flag "github.com/spf13/pflag"
)

// Bridge configures cmd/bridge.
type Bridge struct {
	Common
	// HTTPAddr is the public address: webhooks, POST /events, plain /healthz and /readyz.
	HTTPAddr string
	// AdminAddr is the operators' address (ADMIN_ADDR): /metrics, /readyz with detail, the
	// event ledger (GET /events/{id}) and pprof. Never expose it publicly.
	AdminAddr string
	// RoutesFile replaces the embedded routing table; empty means the default.
	RoutesFile string
	// SchemasDir holds JSON Schemas (<type>.json) that add to or replace the built-in
	// ones; empty means none.
	SchemasDir string

	// Lanes is the most Temporal calls in flight (BRIDGE_LANES): a ceiling for the
	// bridge's adaptive limit. Events for one workflow id run one at a time, in order.
	Lanes int
	// SignalWait is how long an event that signals a workflow which does not exist yet
	// (email.verified before user.signedup) is redelivered before it is dead-lettered.
	SignalWait time.Duration
	// MaxRetryAge and MaxAttempts bound the retries of an event that keeps failing
	// transiently, for routes that set no limit of their own: past MaxRetryAge since it was
	// stored, or at its MaxAttempts-th delivery (0: no limit on attempts), it is
	// dead-lettered as "retries exhausted".
	MaxRetryAge time.Duration
	MaxAttempts int
	// AckWait is how long an event taken by a bridge that went silent waits before the
	// stream redelivers it.
	AckWait time.Duration
	// DuplicateWindow is the Nats-Msg-Id duplicate window of the streams (EVENTS and the
	// two others). The contract asks for at least 2 minutes.
	DuplicateWindow time.Duration
	// Streams are the streams' other settings: replicas, storage, placement, the DLQ's
	// limits (EVENTS_REPLICAS, ...).
	Streams Streams
	// Provision lets the bridge create the streams that are missing and create or update
	// its consumers (BRIDGE_PROVISION, default true). False: `bridge setup` made them, and
	// the bridge only looks them up, so its NATS user needs no right to manage streams.
	Provision bool

	StripeWebhookSecrets []string
	GitHubWebhookSecrets []string
	// StripeAPIKey and StripeAPIBase let the Stripe webhook ask Stripe which
	// PaymentIntent paid an invoice; the key is required with STRIPE_WEBHOOK_SECRET.
	StripeAPIKey  string
	StripeAPIBase string
	// EventsTokens are the bearer tokens POST /events takes, each with the event types it
	// may publish (INGRESS_EVENTS_TOKENS or INGRESS_EVENTS_TOKENS_FILE). Without them,
	// POST /events refuses everyone unless EventsOpen (INGRESS_EVENTS_OPEN) is set.
	EventsTokens []EventsToken
	EventsOpen   bool
	// LedgerRetention is how long the event ledger keeps an event; LedgerBuffer how many
	// outcomes wait in memory for its writer (beyond that they are dropped and counted).
	LedgerRetention time.Duration
	LedgerBuffer    int
	// LedgerBufferBytes bounds the memory of those outcomes (LEDGER_BUFFER_BYTES).
	LedgerBufferBytes int
	// MaxBodyBytes bounds an ingress request body (413 above it); MaxHeaderBytes its headers.
	MaxBodyBytes   int64
	MaxHeaderBytes int
	// MaxInFlight caps the ingress requests served at once; beyond it a request is
	// answered 503 with Retry-After (INGRESS_MAX_IN_FLIGHT).
	MaxInFlight int
}

// Worker configures cmd/worker.
type Worker struct {
	Common
	// HTTPAddr serves /healthz, /readyz and /metrics (WORKER_HTTP_ADDR).
	HTTPAddr string
	// StopTimeout is how long a stopping worker (SIGTERM) lets running activities finish
	// before it cancels them (WORKER_STOP_TIMEOUT).
	StopTimeout time.Duration
	SMTPAddr    string
	MailFrom    string
	// SMTPTLS is starttls, tls or none (SMTP_TLS); SMTPTLSCA a PEM file of the CAs that
	// verify the server (SMTP_TLS_CA; empty: the system's).
	SMTPTLS   string
	SMTPTLSCA string
	// SMTPUsername and SMTPPassword (SMTP_PASSWORD or SMTP_PASSWORD_FILE) turn on SMTP
	// AUTH with mechanism SMTPAuth (auto, plain, login, cram-md5). Over SMTP_TLS=none AUTH
	// is refused to a host not on loopback unless SMTPAuthAllowInsecure.
	SMTPUsername          string
	SMTPPassword          string
	SMTPAuth              string
	SMTPAuthAllowInsecure bool
	StripeAPIBase         string
	StripeAPIKey          string
	AppURL                string // base of links in emails

	ReminderAfter time.Duration // onboarding reminder email
	ExpireAfter   time.Duration // onboarding gives up
	// PaymentTenantWait is how long a payment for an unknown Stripe customer waits for its
	// tenant before PaymentProcessing fails.
	PaymentTenantWait time.Duration
	// ConnectorSyncMaxPages is the most pages of its source one ConnectorSync reads.
	ConnectorSyncMaxPages int
	// Schedules (cron, UTC) of the scheduled workflows the worker keeps in Temporal.
	ScheduleDailyReport string
	ScheduleCleanup     string
	ScheduleBackup      string
	// ScheduleCronsGiven names the variables of the three crons above that were given
	// (the variable or its flag), as SCHEDULE_DAILY_REPORT: only those override the cron
	// of their entry in the schedules file; their defaults are the built-in file's. Nil
	// when none was given.
	ScheduleCronsGiven map[string]bool
	// SchedulesFile declares the Temporal Schedules the worker creates or updates at
	// start-up (SCHEDULES_FILE, docs/schedules.md); empty: the built-in file.
	SchedulesFile string
	// BackupDir holds the Backup workflow's backups; BackupKeep is how many are kept.
	BackupDir  string
	BackupKeep int
	// Retentions applied by the Cleanup workflow.
	SentEmailRetention       time.Duration
	NotificationRetention    time.Duration
	DeployWorkspaceRetention time.Duration
	// DeployWorkspace is the root of BlueprintDeploy's per-deploy workspaces.
	DeployWorkspace string
	// WorkerTaskQueue is the task queue this worker alone polls, for the steps of the
	// deploys it checked out (WORKER_TASK_QUEUE). Empty: <TaskQueue>-worker-<host>-<pid>.
	WorkerTaskQueue string
	// DeployHeartbeatTimeout: a deploy step whose worker went silent this long is retried.
	DeployHeartbeatTimeout time.Duration
	// DeployAllowedRepos are the repositories BlueprintDeploy may deploy
	// (DEPLOY_ALLOWED_REPOS: host/owner/repo or host/owner/*); empty: none.
	DeployAllowedRepos []string
}

// Setup configures `bridge setup`: the bridge's own settings, so that it provisions what
// the bridge with the same environment uses, and its flag.
type Setup struct {
	Bridge
	// DryRun prints what would change and changes nothing (--dry-run).
	DryRun bool
}

// BridgeFlags reads the bridge's settings from a command line: NewBridgeFlags registers
// the flags, their defaults read from the environment; Load, once the flags are parsed,
// completes and validates the settings.
type BridgeFlags struct {
	c       Bridge
	fs      *flag.FlagSet
	env     func(string) string
	errs    []error // found while registering: malformed environment values
	maxBody int
	stripe  string
	github  string
	tokens  string
}

// NewBridgeFlags registers the bridge's flags on fs, their defaults read from env (the
// secrets also from NAME_FILE).
func NewBridgeFlags(fs *flag.FlagSet, env func(string) string) *BridgeFlags {
	b := &BridgeFlags{fs: fs}
	c := &b.c
	env, err := secretFiles(env, "DATABASE_URL", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET")
	b.env = env
	errs := []error{err}
	c.Common.register(fs, env)
	fs.StringVar(&c.HTTPAddr, "http-addr", or(env("HTTP_ADDR"), DefaultHTTPAddr), "HTTP listen address (HTTP_ADDR)")
	fs.StringVar(&c.AdminAddr, "admin-addr", or(env("ADMIN_ADDR"), DefaultAdminAddr), "operators' HTTP address: metrics, readiness detail, event ledger, pprof (ADMIN_ADDR)")
	fs.StringVar(&c.RoutesFile, "routes-file", env("ROUTES_FILE"), "routes file replacing the default table (ROUTES_FILE)")
	fs.StringVar(&c.SchemasDir, "schemas-dir", env("SCHEMAS_DIR"), "directory of JSON Schemas (<type>.json) adding to or replacing the built-in ones (SCHEMAS_DIR)")
	intVar(fs, &c.Lanes, "lanes", "BRIDGE_LANES", env, 256, "most Temporal calls in flight: a ceiling for the adaptive limit, which finds the best by itself", &errs)
	durationVar(fs, &c.SignalWait, "signal-wait", "BRIDGE_SIGNAL_WAIT", env, 10*time.Minute, "how long a signal waits for its workflow to be started", &errs)
	durationVar(fs, &c.MaxRetryAge, "max-retry-age", "BRIDGE_MAX_RETRY_AGE", env, 24*time.Hour, "dead-letter an event still failing this long after it was stored (routes may set their own)", &errs)
	intVar(fs, &c.MaxAttempts, "max-attempts", "BRIDGE_MAX_ATTEMPTS", env, 0, "dead-letter an event failing on this delivery; 0: no limit (routes may set their own)", &errs)
	durationVar(fs, &c.AckWait, "ack-wait", "BRIDGE_ACK_WAIT", env, 30*time.Second, "redeliver an event held by a silent bridge after this long", &errs)
	durationVar(fs, &c.DuplicateWindow, "duplicate-window", "EVENTS_DUPLICATE_WINDOW", env, 10*time.Minute, "duplicate window of the streams", &errs)
	c.Streams.register(fs, env, &errs)
	boolVarOr(fs, &c.Provision, "provision", "BRIDGE_PROVISION", env, true, "create missing streams and create or update the consumers at start-up; false: only look them up (run bridge setup first)", &errs)
	durationVar(fs, &c.LedgerRetention, "ledger-retention", "LEDGER_RETENTION", env, 7*24*time.Hour, "how long the event ledger keeps an event", &errs)
	intVar(fs, &c.LedgerBuffer, "ledger-buffer", "LEDGER_BUFFER", env, 10000, "delivery outcomes held in memory for the event ledger", &errs)
	intVar(fs, &c.LedgerBufferBytes, "ledger-buffer-bytes", "LEDGER_BUFFER_BYTES", env, 16<<20, "bytes of delivery outcomes held in memory for the event ledger", &errs)
	intVar(fs, &b.maxBody, "max-body-bytes", "INGRESS_MAX_BODY_BYTES", env, 1<<20, "largest ingress request body", &errs)
	intVar(fs, &c.MaxHeaderBytes, "max-header-bytes", "INGRESS_MAX_HEADER_BYTES", env, 64<<10, "largest ingress request headers", &errs)
	intVar(fs, &c.MaxInFlight, "max-in-flight", "INGRESS_MAX_IN_FLIGHT", env, 1024, "ingress requests served at once; beyond it 503 with Retry-After", &errs)
	fs.StringVar(&c.StripeAPIBase, "stripe-api-base", or(env("STRIPE_API_BASE"), "https://api.stripe.com"), "Stripe API base URL; stripe-mock locally (STRIPE_API_BASE)")
	c.StripeAPIKey = env("STRIPE_API_KEY")
	fs.Var(secret{&c.StripeAPIKey, redactAll}, "stripe-api-key", "Stripe API key the Stripe webhook looks up invoice payments with (STRIPE_API_KEY or STRIPE_API_KEY_FILE)")
	b.stripe = env("STRIPE_WEBHOOK_SECRET")
	b.github = env("GITHUB_WEBHOOK_SECRET")
	boolVar(fs, &c.EventsOpen, "events-open", "INGRESS_EVENTS_OPEN", env, "POST /events takes events without a token, webhook types excepted: for development only", &errs)
	b.tokens, err = secretSetting(env, "INGRESS_EVENTS_TOKENS")
	b.errs = append(errs, err)
	return b
}

// Load completes the settings from the parsed flags and the environment, and validates
// them. Its errors wrap ErrInvalid and name the setting; none shows a secret.
func (b *BridgeFlags) Load() (Bridge, error) {
	c, env, errs := b.c, b.env, b.errs
	errs = append(errs, c.NATS.Resolve(env))
	errs = append(errs, c.Temporal.Load(b.fs, env))
	c.MaxBodyBytes = int64(b.maxBody)
	c.StripeWebhookSecrets = SecretList(b.stripe)
	c.GitHubWebhookSecrets = SecretList(b.github)
	var err error
	if c.EventsTokens, err = ParseEventsTokens(b.tokens); err != nil {
		errs = append(errs, invalid("INGRESS_EVENTS_TOKENS", err.Error()))
	}
	errs = append(errs, c.Common.validate())
	if c.HTTPAddr == "" {
		errs = append(errs, invalid("HTTP_ADDR", "must not be empty"))
	}
	if c.AdminAddr == "" || c.AdminAddr == c.HTTPAddr {
		errs = append(errs, invalid("ADMIN_ADDR", "must be set and differ from HTTP_ADDR: operator endpoints never share the public port"))
	}
	if len(c.StripeWebhookSecrets) > 0 && c.StripeAPIKey == "" {
		// Without it the webhook cannot key a subscription's payment by its PaymentIntent.
		errs = append(errs, invalid("STRIPE_API_KEY", "must be set with STRIPE_WEBHOOK_SECRET: the Stripe webhook asks Stripe which PaymentIntent paid an invoice (it only reads invoice payments, so a restricted key allowed that is enough; any sk_test_ key works with stripe-mock)"))
	}
	if c.MaxBodyBytes < 1024 || c.MaxHeaderBytes < 1024 {
		errs = append(errs, invalid("INGRESS_MAX_BODY_BYTES", "and INGRESS_MAX_HEADER_BYTES must be at least 1024"))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, invalid("INGRESS_MAX_IN_FLIGHT", "must be at least 1"))
	}
	if c.LedgerRetention < time.Hour {
		errs = append(errs, invalid("LEDGER_RETENTION", "must be at least 1h"))
	}
	if c.LedgerBufferBytes < 1024 {
		errs = append(errs, invalid("LEDGER_BUFFER_BYTES", "must be at least 1024"))
	}
	if c.LedgerBuffer < 1 {
		errs = append(errs, invalid("LEDGER_BUFFER", "must be at least 1"))
	}
	if c.Lanes < 1 || c.Lanes > 4096 {
		errs = append(errs, invalid("BRIDGE_LANES", "must be between 1 and 4096"))
	}
	if c.SignalWait <= 0 {
		errs = append(errs, invalid("BRIDGE_SIGNAL_WAIT", "must be positive"))
	}
	if c.MaxRetryAge <= 0 {
		errs = append(errs, invalid("BRIDGE_MAX_RETRY_AGE", "must be positive"))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, invalid("BRIDGE_MAX_ATTEMPTS", "must not be negative (0: no limit on attempts)"))
	}
	if c.AckWait < time.Second {
		errs = append(errs, invalid("BRIDGE_ACK_WAIT", "must be at least 1s"))
	}
	if c.DuplicateWindow < 2*time.Minute {
		errs = append(errs, invalid("EVENTS_DUPLICATE_WINDOW", "must be at least 2m (the contract's minimum)"))
	}
	errs = append(errs, c.Streams.validate(c.DuplicateWindow)...)
	return c, errors.Join(errs...)
}

// SetupFlags reads the settings of `bridge setup`: every setting of the bridge, and
// --dry-run.
type SetupFlags struct {
	bridge *BridgeFlags
	dryRun bool
}

// NewSetupFlags registers the flags of `bridge setup` on fs: the bridge's, and --dry-run.
func NewSetupFlags(fs *flag.FlagSet, env func(string) string) *SetupFlags {
	s := &SetupFlags{bridge: NewBridgeFlags(fs, env)}
	fs.BoolVar(&s.dryRun, "dry-run", false, "print what would be created or updated, field by field, and change nothing")
	return s
}

// Load is BridgeFlags.Load, with --dry-run.
func (s *SetupFlags) Load() (Setup, error) {
	c, err := s.bridge.Load()
	return Setup{Bridge: c, DryRun: s.dryRun}, err
}

// LoadBridge reads the bridge's settings from args (without the program name) and env.
func LoadBridge(args []string, env func(string) string) (Bridge, error) {
	fs := newFlagSet("bridge")
	b := NewBridgeFlags(fs, env)
	if err := parse(fs, args); err != nil {
		return Bridge{}, err
	}
	return b.Load()
}

// LoadSetup reads the settings of `bridge setup` from args (those after "setup") and env:
// every setting of the bridge, and --dry-run.
func LoadSetup(args []string, env func(string) string) (Setup, error) {
	fs := newFlagSet("bridge setup")
	s := NewSetupFlags(fs, env)
	if err := parse(fs, args); err != nil {
		return Setup{}, err
	}
	return s.Load()
}

// WorkerFlags reads the worker's settings from a command line, as BridgeFlags does the
// bridge's.
type WorkerFlags struct {
	c       Worker
	fs      *flag.FlagSet
	env     func(string) string
	errs    []error
	allowed string
}

// NewWorkerFlags registers the worker's flags on fs, their defaults read from env (the
// secrets also from NAME_FILE).
func NewWorkerFlags(fs *flag.FlagSet, env func(string) string) *WorkerFlags {
	w := &WorkerFlags{fs: fs}
	c := &w.c
	env, err := secretFiles(env, "DATABASE_URL", "STRIPE_API_KEY")
	w.env = env
	errs := []error{err}
	c.Common.register(fs, env)
	fs.StringVar(&c.HTTPAddr, "http-addr", or(env("WORKER_HTTP_ADDR"), DefaultWorkerHTTPAddr), "HTTP listen address of /healthz, /readyz and /metrics (WORKER_HTTP_ADDR)")
	fs.StringVar(&c.SMTPAddr, "smtp-addr", or(env("SMTP_ADDR"), "127.0.0.1:1025"), "SMTP server host:port (SMTP_ADDR)")
	fs.StringVar(&c.MailFrom, "mail-from", or(env("MAIL_FROM"), "flowbridge <no-reply@flowbridge.local>"), "From address of emails (MAIL_FROM)")
	c.registerSMTP(fs, env, &errs)
	durationVar(fs, &c.StopTimeout, "stop-timeout", "WORKER_STOP_TIMEOUT", env, DefaultWorkerStopTimeout, "on SIGTERM, how long running activities may take to finish before they are cancelled", &errs)
	fs.StringVar(&c.StripeAPIBase, "stripe-api-base", or(env("STRIPE_API_BASE"), "https://api.stripe.com"), "Stripe API base URL; stripe-mock locally (STRIPE_API_BASE)")
	c.StripeAPIKey = env("STRIPE_API_KEY")
	fs.Var(secret{&c.StripeAPIKey, redactAll}, "stripe-api-key", "Stripe secret key (STRIPE_API_KEY or STRIPE_API_KEY_FILE)")
	fs.StringVar(&c.AppURL, "app-url", or(env("APP_URL"), "http://localhost:3000"), "base URL of links in emails (APP_URL)")
	durationVar(fs, &c.ReminderAfter, "onboarding-reminder-after", "ONBOARDING_REMINDER_AFTER", env, 24*time.Hour, "send a reminder email when unverified this long", &errs)
	durationVar(fs, &c.ExpireAfter, "onboarding-expire-after", "ONBOARDING_EXPIRE_AFTER", env, 72*time.Hour, "give up on an unverified signup after this long", &errs)
	fs.StringVar(&c.DeployWorkspace, "deploy-workspace", or(env("DEPLOY_WORKSPACE"), filepath.Join(os.TempDir(), "flowbridge-deploys")), "root of BlueprintDeploy workspaces (DEPLOY_WORKSPACE)")
	fs.StringVar(&c.WorkerTaskQueue, "worker-task-queue", env("WORKER_TASK_QUEUE"), "task queue of this worker alone, for the steps of the deploys it checked out; must differ from every other worker's; empty: <TEMPORAL_TASK_QUEUE>-worker-<host>-<pid> (WORKER_TASK_QUEUE)")
	durationVar(fs, &c.DeployHeartbeatTimeout, "deploy-heartbeat-timeout", "DEPLOY_HEARTBEAT_TIMEOUT", env, 10*time.Second, "retry a deploy step whose worker went silent this long", &errs)
	fs.StringVar(&c.ScheduleDailyReport, "schedule-daily-report", or(env("SCHEDULE_DAILY_REPORT"), "0 6 * * *"), "cron (UTC) of the daily-report schedule (SCHEDULE_DAILY_REPORT)")
	fs.StringVar(&c.ScheduleCleanup, "schedule-cleanup", or(env("SCHEDULE_CLEANUP"), "0 * * * *"), "cron (UTC) of the cleanup schedule (SCHEDULE_CLEANUP)")
	fs.StringVar(&c.ScheduleBackup, "schedule-backup", or(env("SCHEDULE_BACKUP"), "0 2 * * *"), "cron (UTC) of the backup schedule (SCHEDULE_BACKUP)")
	fs.StringVar(&c.SchedulesFile, "schedules-file", env("SCHEDULES_FILE"), "file declaring the Temporal Schedules the worker keeps; empty: the built-in daily-report, cleanup and backup (SCHEDULES_FILE)")
	fs.StringVar(&c.BackupDir, "backup-dir", or(env("BACKUP_DIR"), filepath.Join(os.TempDir(), "flowbridge-backups")), "where the Backup workflow writes (BACKUP_DIR)")
	intVar(fs, &c.BackupKeep, "backup-keep", "BACKUP_KEEP", env, 7, "how many backups are kept", &errs)
	durationVar(fs, &c.SentEmailRetention, "sent-email-retention", "SENT_EMAIL_RETENTION", env, 30*24*time.Hour, "how long a sent email's record is kept", &errs)
	durationVar(fs, &c.NotificationRetention, "notification-retention", "NOTIFICATION_RETENTION", env, 90*24*time.Hour, "how long an in-app notification is kept", &errs)
	durationVar(fs, &c.DeployWorkspaceRetention, "deploy-workspace-retention", "DEPLOY_WORKSPACE_RETENTION", env, 24*time.Hour, "how long a workspace left by a finished deploy is kept", &errs)
	intVar(fs, &c.ConnectorSyncMaxPages, "connector-sync-max-pages", "CONNECTOR_SYNC_MAX_PAGES", env, 1000, "most pages one connector sync reads", &errs)
	durationVar(fs, &c.PaymentTenantWait, "payment-tenant-wait", "PAYMENT_TENANT_WAIT", env, 24*time.Hour, "how long a payment for an unknown Stripe customer waits for its tenant", &errs)
	w.allowed = env("DEPLOY_ALLOWED_REPOS")
	fs.StringVar(&w.allowed, "deploy-allowed-repos", w.allowed, "repositories BlueprintDeploy may deploy, comma-separated: github.com/acme/app or github.com/acme/*; empty: none (DEPLOY_ALLOWED_REPOS)")
	w.errs = errs
	return w
}

// Load completes the settings from the parsed flags and the environment, and validates
// them. Its errors wrap ErrInvalid and name the setting; none shows a secret.
func (w *WorkerFlags) Load() (Worker, error) {
	c, env, errs := w.c, w.env, w.errs
	fs := w.fs
	errs = append(errs, c.NATS.Resolve(env))
	errs = append(errs, c.Temporal.Load(fs, env))
	c.DeployAllowedRepos = SecretList(w.allowed)
	errs = append(errs, c.Common.validate())
	if c.HTTPAddr == "" {
		errs = append(errs, invalid("WORKER_HTTP_ADDR", "must not be empty"))
	}
	for name, v := range map[string]string{"SCHEDULE_DAILY_REPORT": c.ScheduleDailyReport, "SCHEDULE_CLEANUP": c.ScheduleCleanup, "SCHEDULE_BACKUP": c.ScheduleBackup, "BACKUP_DIR": c.BackupDir} {
		if v == "" {
			errs = append(errs, invalid(name, "must not be empty"))
		}
	}
	for name, flagName := range map[string]string{"SCHEDULE_DAILY_REPORT": "schedule-daily-report", "SCHEDULE_CLEANUP": "schedule-cleanup", "SCHEDULE_BACKUP": "schedule-backup"} {
		if env(name) != "" || fs.Changed(flagName) {
			if c.ScheduleCronsGiven == nil {
				c.ScheduleCronsGiven = map[string]bool{}
			}
			c.ScheduleCronsGiven[name] = true
		}
	}
	if c.BackupKeep < 1 {
		errs = append(errs, invalid("BACKUP_KEEP", "must be at least 1"))
	}
	if c.SentEmailRetention < 24*time.Hour || c.SentEmailRetention <= c.ExpireAfter {
		// The record stops a retried activity from sending an email twice: it must outlive
		// the longest onboarding.
		errs = append(errs, invalid("SENT_EMAIL_RETENTION", "must be at least 24h and longer than ONBOARDING_EXPIRE_AFTER"))
	}
	if c.NotificationRetention < 24*time.Hour {
		errs = append(errs, invalid("NOTIFICATION_RETENTION", "must be at least 24h"))
	}
	if c.DeployWorkspaceRetention < time.Hour {
		errs = append(errs, invalid("DEPLOY_WORKSPACE_RETENTION", "must be at least 1h"))
	}
	if c.ConnectorSyncMaxPages < 1 {
		errs = append(errs, invalid("CONNECTOR_SYNC_MAX_PAGES", "must be at least 1"))
	}
	if c.DeployWorkspace == "" {
		errs = append(errs, invalid("DEPLOY_WORKSPACE", "must not be empty"))
	}
	if c.WorkerTaskQueue != "" && c.WorkerTaskQueue == c.TaskQueue {
		errs = append(errs, invalid("WORKER_TASK_QUEUE", "must differ from TEMPORAL_TASK_QUEUE: it is this worker's alone"))
	}
	if c.DeployHeartbeatTimeout < time.Second {
		errs = append(errs, invalid("DEPLOY_HEARTBEAT_TIMEOUT", "must be at least 1s"))
	}
	if c.PaymentTenantWait <= 0 {
		errs = append(errs, invalid("PAYMENT_TENANT_WAIT", "must be positive"))
	}
	errs = append(errs, c.validateSMTP()...)
	if c.StopTimeout < 0 {
		errs = append(errs, invalid("WORKER_STOP_TIMEOUT", "must not be negative (0: cancel running activities at once)"))
	}
	if c.StripeAPIKey == "" {
		errs = append(errs, invalid("STRIPE_API_KEY", "must be set (any sk_test_ key works with stripe-mock)"))
	}
	if c.ReminderAfter <= 0 || c.ExpireAfter <= c.ReminderAfter {
		errs = append(errs, invalid("ONBOARDING_EXPIRE_AFTER", "must be longer than ONBOARDING_REMINDER_AFTER, and both positive"))
	}
	return c, errors.Join(errs...)
}

// LoadWorker reads the worker's settings from args (without the program name) and env.
func LoadWorker(args []string, env func(string) string) (Worker, error) {
	fs := newFlagSet("worker")
	w := NewWorkerFlags(fs, env)
	if err := parse(fs, args); err != nil {
		return Worker{}, err
	}
	return w.Load()
}

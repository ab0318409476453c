package contract

// DailyReport is the data of report.daily: the numbers of one UTC day.
type DailyReport struct {
	Date     string         `json:"date"` // YYYY-MM-DD (DateLayout)
	Signups  int64          `json:"signups"`
	Payments ReportPayments `json:"payments"`
	Deploys  ReportDeploys  `json:"deploys"`
	// Events counts the events the bridge received that day by outcome (routed,
	// duplicate, ignored, dead_lettered, retried); outcomes with no event are absent.
	Events map[string]int64 `json:"events"`
}

// ReportPayments are the payments recorded on a report's day.
type ReportPayments struct {
	Count      int64           `json:"count"`
	ByCurrency []CurrencyTotal `json:"by_currency"` // ordered by currency
}

// CurrencyTotal is the payments of one currency.
type CurrencyTotal struct {
	Currency string `json:"currency"`
	Count    int64  `json:"count"`
	Amount   int64  `json:"amount"` // sum, in the currency's minor unit
}

// ReportDeploys are the deploys that finished on a report's day.
type ReportDeploys struct {
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
}

// DateLayout is the layout of a report's date (YYYY-MM-DD, a UTC day).
const DateLayout = "2006-01-02"

// DailyReportInput is the input of DailyReport, the workflow that emits report.daily.
type DailyReportInput struct {
	// Date is the UTC day to report, YYYY-MM-DD, for a report run by hand. Optional:
	// defaults to the day before the workflow's nominal time (so the schedule's 06:00 run
	// reports yesterday, even when it runs late).
	Date string `json:"date,omitempty"`
}

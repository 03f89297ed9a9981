// Package finance is what finance asks of the service: it imports the
// providers' settlement files, pulls their settlement APIs, and reconciles
// what was settled against the captures and refunds the payments made. It
// reads the domain's movements through the store and knows nothing of HTTP.
package finance

import (
	"sync"
	"time"

	"vippskco/bridge"
	"vippskco/bridge/metrics"
	"vippskco/bridge/reconcile"
)

// Unit is what finance knows of a Vipps MobilePay sales unit: whose
// settlements are whose (the MSN), in which currency, where its Report API
// is (nil: settlement sync is off for it), and what its fees should be.
type Unit struct {
	ID       string
	MSN      string
	Currency string
	Report   ReportAPI
	// ReportOff, when Report is nil, says why: every sync reports it for
	// the unit, so finance sees why its settlements must come as files.
	ReportOff string
	// ExpectedFee is the fee finance expects for the unit's captures; the
	// zero model checks no fee.
	ExpectedFee reconcile.FeeModel
}

// Service imports, pulls and reconciles settlements.
type Service struct {
	Store bridge.SettlementStore
	Units map[string]*Unit
	// Kustom pulls Kustom's settlements; nil turns that off.
	Kustom KustomSettlementsAPI
	// Metrics gets each reconciliation's exceptions; nil records nothing.
	Metrics *metrics.Metrics
	Now     func() time.Time

	// importing counts the file imports running (see MaxConcurrentImports).
	importMu  sync.Mutex
	importing int
}

// MaxConcurrentImports is how many settlement files are imported at once.
// An import holds a parser's memory (an XLSX its shared strings and its
// rows) and a store transaction; one more is refused at once, not queued,
// so that waiting uploads do not hold memory either.
const MaxConcurrentImports = 2

// startImport takes one of the import slots, or fails with a rate_limited
// error (HTTP 429) when all are taken. done gives the slot back.
func (s *Service) startImport() (done func(), err error) {
	s.importMu.Lock()
	defer s.importMu.Unlock()
	if s.importing >= MaxConcurrentImports {
		return nil, bridge.Errorf(bridge.ECodeRateLimited, "imports_busy",
			"%d settlement imports are already running; try again when one has finished", MaxConcurrentImports)
	}
	s.importing++
	return func() {
		s.importMu.Lock()
		s.importing--
		s.importMu.Unlock()
	}, nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Today is the current Vipps ledger day, YYYY-MM-DD in Oslo: the default
// end of a period.
func (s *Service) Today() string { return s.now().In(oslo).Format("2006-01-02") }

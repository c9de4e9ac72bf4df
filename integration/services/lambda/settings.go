package lambda

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
)

// AccountLimit is the concurrency part of GetAccountSettings' AccountLimit:
// the account's concurrent executions and what the reservations leave to
// the functions without one.
type AccountLimit struct {
	ConcurrentExecutions           int
	UnreservedConcurrentExecutions int
}

// settings returns the limit and what is left of it after every
// reservation (a reservation of 0 takes nothing).
func (c *concurrency) settings() AccountLimit {
	c.mu.Lock()
	defer c.mu.Unlock()
	left := c.limit
	for _, r := range c.reserved {
		left -= r
	}
	return AccountLimit{ConcurrentExecutions: c.limit, UnreservedConcurrentExecutions: left}
}

// reservation returns name's reserved concurrency, if it has one.
func (c *concurrency) reservation(name string) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.reserved[name]
	return n, ok
}

// AccountSettings answers as Lambda's GetAccountSettings does for
// concurrency: the account limit (Options.Concurrency) and that limit less
// every reservation.
func (s *Service) AccountSettings() AccountLimit { return s.conc.settings() }

// FunctionConcurrency answers as GetFunctionConcurrency: the function's
// reservation, ok false when it has none; ResourceNotFoundException for an
// unknown function.
func (s *Service) FunctionConcurrency(function string) (n int, ok bool, err error) {
	name := FunctionName(function)
	if !s.exists(name) {
		return 0, false, awsjson.Errorf(404, "ResourceNotFoundException", "Function not found: %s", s.ARN(name))
	}
	n, ok = s.conc.reservation(name)
	return n, ok, nil
}

// serveSettings answers GetAccountSettings (GET /2016-08-19/account-settings/)
// and GetFunctionConcurrency (GET /2019-09-30/functions/{name}/concurrency);
// false when r is neither.
func (s *Service) serveSettings(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	path := r.URL.EscapedPath()
	if strings.TrimSuffix(path, "/") == "/2016-08-19/account-settings" {
		l := s.AccountSettings()
		awsjson.Write(w, restJSON, map[string]any{
			"AccountLimit": map[string]int{
				"ConcurrentExecutions": l.ConcurrentExecutions, "UnreservedConcurrentExecutions": l.UnreservedConcurrentExecutions,
				// Lambda's published code storage quotas; nothing here stores code.
				"TotalCodeSize": 80 << 30, "CodeSizeUnzipped": 250 << 20, "CodeSizeZipped": 50 << 20,
			},
			// AccountUsage is left out: the resolver knows no list of functions.
		})
		return true
	}
	rest, ok := strings.CutPrefix(path, "/2019-09-30/functions/")
	if !ok {
		return false
	}
	name, ok := strings.CutSuffix(rest, "/concurrency")
	if !ok {
		return false
	}
	name, err := url.PathUnescape(name)
	if err != nil {
		awsjson.WriteError(w, restJSON, awsjson.Errorf(400, "InvalidParameterValueException", "bad function name: %v", err))
		return true
	}
	n, reserved, err := s.FunctionConcurrency(name)
	if err != nil {
		awsjson.WriteError(w, restJSON, err)
		return true
	}
	out := map[string]int{}
	if reserved {
		out["ReservedConcurrentExecutions"] = n
	}
	awsjson.Write(w, restJSON, out)
	return true
}

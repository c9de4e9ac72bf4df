package awslocal

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

// ledgerView is the JSON of GET /_awslocal/ledger.
type ledgerView struct {
	Counts  sim.Counts        `json:"counts"`
	Entries []sim.LedgerEntry `json:"entries"`
}

// adminHandler serves the admin endpoints:
//
//	GET  /_awslocal/ledger[?requestId=ID][&chunkSize=N][&entries=false]
//	                                                     launches and counts (duplicates need chunkSize;
//	                                                     entries=false returns the counts only)
//	GET  /_awslocal/stats                                calls, throttles, faults, buckets
//	GET  /_awslocal/config                               the simulator's effective configuration
//	POST /_awslocal/faults                               body: sim.Faults JSON, replaces the fault rates
//	POST /_awslocal/cotenant-share?share=0.5             sets the co-tenant share
//	POST /_awslocal/buckets                              body: {"ecs:RunTask":{"burst":100,"rate":40}}
func (s *Stack) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_awslocal/ledger", func(w http.ResponseWriter, r *http.Request) {
		entries := s.Sim.Ledger().For(r.URL.Query().Get("requestId"))
		var size sim.ChunkSize
		if v := r.URL.Query().Get("chunkSize"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				http.Error(w, "chunkSize: want a positive integer, got "+strconv.Quote(v), http.StatusBadRequest)
				return
			}
			size = func(string, int) int { return n }
		}
		view := ledgerView{Counts: sim.Count(entries, size), Entries: entries}
		if r.URL.Query().Get("entries") == "false" || view.Entries == nil {
			view.Entries = []sim.LedgerEntry{}
		}
		writeJSON(w, view)
	})
	mux.HandleFunc("GET /_awslocal/stats", func(w http.ResponseWriter, r *http.Request) {
		view := struct {
			sim.Stats
			Services any `json:"services,omitempty"`
		}{Stats: s.Sim.Stats()}
		if svc := s.LocalServices(); svc != nil {
			view.Services = svc.Stats()
		}
		writeJSON(w, view)
	})
	mux.HandleFunc("GET /_awslocal/config", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Sim.Config())
	})
	mux.HandleFunc("POST /_awslocal/faults", func(w http.ResponseWriter, r *http.Request) {
		var f sim.Faults
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			http.Error(w, "faults: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.Sim.SetFaults(f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, s.Sim.Config().Faults)
	})
	mux.HandleFunc("POST /_awslocal/cotenant-share", func(w http.ResponseWriter, r *http.Request) {
		v, err := strconv.ParseFloat(r.URL.Query().Get("share"), 64)
		if err == nil {
			err = s.Sim.SetCotenantShare(v)
		}
		if err != nil {
			http.Error(w, "share: "+err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]float64{"cotenantShare": v})
	})
	mux.HandleFunc("POST /_awslocal/buckets", func(w http.ResponseWriter, r *http.Request) {
		var m map[string]sim.Bucket
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, "buckets: "+err.Error(), http.StatusBadRequest)
			return
		}
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if err := s.Sim.SetBucket(n, m[n]); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		writeJSON(w, s.Sim.Config().Buckets)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// sortKeys sorts environment names with AWS_ENDPOINT_URL first.
func sortKeys(keys []string) {
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == "AWS_ENDPOINT_URL") != (keys[j] == "AWS_ENDPOINT_URL") {
			return keys[i] == "AWS_ENDPOINT_URL"
		}
		return keys[i] < keys[j]
	})
}

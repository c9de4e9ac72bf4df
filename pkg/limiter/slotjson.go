package limiter

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

type debitJSON struct {
	Bucket     string  `json:"bucket"`
	IncSeconds float64 `json:"incSeconds"`
	TauSeconds float64 `json:"tauSeconds,omitempty"`
}

type slotJSON struct {
	At          time.Time   `json:"at"`
	WaitSeconds float64     `json:"waitSeconds"`
	Fallback    bool        `json:"fallback,omitempty"`
	Debits      []debitJSON `json:"debits,omitempty"`
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func fromSeconds(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

// MarshalJSON writes the slot with durations in seconds:
// {"at":"2026-11-22T10:00:01.5Z","waitSeconds":1.5,"debits":[{"bucket":"ecs:RunTask","incSeconds":0.025,"tauSeconds":2.5}]}.
func (s Slot) MarshalJSON() ([]byte, error) {
	j := slotJSON{At: s.At, WaitSeconds: seconds(s.Wait), Fallback: s.Fallback}
	for _, d := range s.Debits {
		j.Debits = append(j.Debits, debitJSON{Bucket: d.Bucket, IncSeconds: seconds(d.Inc), TauSeconds: seconds(d.Tau)})
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (s *Slot) UnmarshalJSON(b []byte) error {
	var j slotJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("limiter: slot: %w", err)
	}
	*s = Slot{At: j.At, Wait: fromSeconds(j.WaitSeconds), Fallback: j.Fallback}
	for i, d := range j.Debits {
		if d.Bucket == "" || d.IncSeconds < 0 {
			return fmt.Errorf("limiter: slot: debits[%d]: needs a bucket and incSeconds ≥ 0", i)
		}
		s.Debits = append(s.Debits, Debit{Bucket: d.Bucket, Inc: fromSeconds(d.IncSeconds), Tau: fromSeconds(d.TauSeconds)})
	}
	return nil
}

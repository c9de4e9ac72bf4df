package limiter

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

type positionJSON struct {
	Bucket string    `json:"bucket"`
	End    float64   `json:"end"`
	N      float64   `json:"n"`
	Epoch  int64     `json:"epoch"`
	At     time.Time `json:"at"`
	Base   int64     `json:"base,omitempty"`
	Shift  int64     `json:"shift,omitempty"`
}

type slotJSON struct {
	At          time.Time      `json:"at"`
	WaitSeconds float64        `json:"waitSeconds"`
	Binding     string         `json:"binding,omitempty"`
	Positions   []positionJSON `json:"positions,omitempty"`
	Lane        string         `json:"lane,omitempty"`
}

func fromSeconds(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

// MarshalJSON writes the slot with its wait in seconds:
// {"at":"2026-11-22T10:00:01.5Z","waitSeconds":1.5,"binding":"ecs:FargateTasks",
// "positions":[{"bucket":"ecs:FargateTasks","end":130,"n":10,"epoch":2,"at":"2026-11-22T10:00:01.5Z"}]},
// with "lane" for a high or low slot and "base" and "shift" on a position
// a higher lane may still push back.
func (s Slot) MarshalJSON() ([]byte, error) {
	j := slotJSON{At: s.At, WaitSeconds: s.Wait.Seconds(), Binding: s.Binding, Lane: s.Lane}
	if j.Lane == LaneNormal {
		j.Lane = "" // omitted: slots of older releases decode as normal
	}
	for _, p := range s.Positions {
		j.Positions = append(j.Positions, positionJSON(p))
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form MarshalJSON writes; a position needs a
// bucket, n > 0 and epoch ≥ 0.
func (s *Slot) UnmarshalJSON(b []byte) error {
	var j slotJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("limiter: slot: %w", err)
	}
	if _, ok := laneIndex(j.Lane); !ok {
		return fmt.Errorf("limiter: slot: lane %q: want high, normal or low", j.Lane)
	}
	*s = Slot{At: j.At, Wait: fromSeconds(j.WaitSeconds), Binding: j.Binding, Lane: j.Lane}
	for i, p := range j.Positions {
		if p.Bucket == "" || !(p.N > 0) || p.Epoch < 0 {
			return fmt.Errorf("limiter: slot: positions[%d]: needs a bucket, n > 0 and epoch ≥ 0", i)
		}
		s.Positions = append(s.Positions, Position(p))
	}
	return nil
}

package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// wantStored checks sr is r planned at now.
func wantStored(t *testing.T, what string, sr launch.StoredRequest, r launch.Request, now time.Time) {
	t.Helper()
	dl := r.Deadline(now)
	if launch.Fingerprint(sr.Request) != launch.Fingerprint(r) {
		t.Errorf("%s: request %+v, want %+v", what, sr.Request, r)
	}
	if !sr.Created.Equal(now) || sr.Created.Location() != time.UTC {
		t.Errorf("%s: created %v, want %v in UTC", what, sr.Created, now.UTC())
	}
	if !sr.Deadline.Equal(dl) || sr.Deadline.Location() != time.UTC {
		t.Errorf("%s: deadline %v, want %v in UTC", what, sr.Deadline, dl.UTC())
	}
	if want := launch.NewPlan(r, dl); !reflect.DeepEqual(sr.Plan, want) {
		t.Errorf("%s: plan %+v, want %+v", what, sr.Plan, want)
	}
}

func testRequests(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	later := t0.Add(time.Hour)
	t.Run("CreateThenRead", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		now := t0.Add(1234 * time.Nanosecond).In(time.FixedZone("UTC+2", 2*3600))
		for _, r := range []launch.Request{launchtest.ECSRequest("ecs-1", 25), launchtest.EC2Request("ec2-1", 250)} {
			wantStored(t, "CreateRequest", create(t, st, r, now), r, now)
			sr, err := st.Request(ctx, r.RequestID)
			must(t, err)
			wantStored(t, "Request", sr, r, now)
			id, err := st.RequestIDForHash(ctx, launch.RequestHash(r.RequestID))
			if err != nil || id != r.RequestID {
				t.Errorf("RequestIDForHash(hash of %s) = %q, %v", r.RequestID, id, err)
			}
		}
	})
	// A second CreateRequest with the same requestId: the same request
	// (however spelled) gets the stored plan, another one a conflict; the
	// stored request is unchanged either way.
	first := launchtest.ECSRequest("again", 25)
	versioned := launchtest.ECSRequest("again", 25)
	versioned.Version = launch.CurrentVersion
	for name, c := range map[string]struct {
		again launch.Request
		want  error
	}{
		"same request":         {launchtest.ECSRequest("again", 25), nil},
		"version spelled out":  {versioned, nil},
		"another count":        {launchtest.ECSRequest("again", 26), launchstore.ErrRequestConflict},
		"another kind":         {launchtest.EC2Request("again", 25), launchstore.ErrRequestConflict},
		"another max attempts": {func() launch.Request { r := launchtest.ECSRequest("again", 25); r.MaxAttempts = 3; return r }(), launchstore.ErrRequestConflict},
	} {
		t.Run("CreateAgain/"+name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			create(t, st, first, t0)
			sr, err := st.CreateRequest(ctx, c.again, later)
			if !errors.Is(err, c.want) {
				t.Fatalf("CreateRequest again: %v, want %v", err, c.want)
			}
			if err == nil {
				wantStored(t, "CreateRequest again", sr, first, t0)
			}
			sr, err = st.Request(ctx, first.RequestID)
			must(t, err)
			wantStored(t, "Request after CreateRequest again", sr, first, t0)
		})
	}
	t.Run("HashesOfSeveralRequests", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		ids := []string{"r", "r1", "nightly/2026-11-22@eu"}
		for _, id := range ids {
			create(t, st, launchtest.ECSRequest(id, 5), t0)
		}
		for _, id := range ids {
			if got, err := st.RequestIDForHash(ctx, launch.RequestHash(id)); err != nil || got != id {
				t.Errorf("RequestIDForHash(hash of %s) = %q, %v", id, got, err)
			}
		}
	})
	t.Run("SummaryCheckKeepsTheFirst", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		create(t, st, first, t0)
		firstCheck := t0.Add(90 * time.Minute).In(time.FixedZone("UTC-5", -5*3600))
		for i, now := range []time.Time{firstCheck, firstCheck.Add(time.Hour), t0} {
			got, err := st.MarkSummaryCheck(ctx, first.RequestID, now)
			if err != nil || !got.Equal(firstCheck) || got.Location() != time.UTC {
				t.Fatalf("check %d at %v: got %v, %v; want the first check %v in UTC", i, now, got, err, firstCheck.UTC())
			}
		}
		sr, err := st.Request(ctx, first.RequestID)
		must(t, err)
		wantStored(t, "Request after summary checks", sr, first, t0)
	})
}

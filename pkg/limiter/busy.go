package limiter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/smithy-go"
)

// StoreBusyError is the limiter's answer when its store failed: nothing is
// held; ask again after Wait. The limiter fails closed: a fleet of
// processes cannot know what the others admit without the store, so none
// admits anything until it answers. Config says the failure is one waiting
// will not cure (access denied, no such table): it is logged as an error
// and counted as LimiterStoreConfigErrors, which the stack alarms on.
//
// pkg/failure classifies it by its behaviour (RetryAfter, LimiterBusy) as
// transient, code LimiterStoreBusy, with Wait as the least delay: a chunk
// waits and asks again, spending no attempt, until its deadline.
type StoreBusyError struct {
	Key string
	// Wait is Options.BusyRetry: when to ask the store again.
	Wait   time.Duration
	Config bool
	Err    error
}

func (e *StoreBusyError) Error() string {
	kind := "busy"
	if e.Config {
		kind = "misconfigured"
	}
	return fmt.Sprintf("limiter: bucket store %s (%s: %v); nothing reserved, retry after %v", kind, e.Key, e.Err, e.Wait)
}

func (e *StoreBusyError) Unwrap() error { return e.Err }

// RetryAfter returns Wait: the least wait before asking again.
func (e *StoreBusyError) RetryAfter() time.Duration { return e.Wait }

// LimiterBusy reports true: the limiter could not ask its store; the
// bucket may well have room.
func (e *StoreBusyError) LimiterBusy() bool { return true }

// configCodes are the DynamoDB error codes no wait cures.
var configCodes = map[string]bool{
	"AccessDeniedException": true, "ResourceNotFoundException": true, "ValidationException": true,
	"UnrecognizedClientException": true, "MissingAuthenticationTokenException": true,
	"InvalidSignatureException": true, "IncompleteSignature": true,
}

// isConfigError says err is a configuration error of the store.
func isConfigError(err error) bool {
	api, ok := errors.AsType[smithy.APIError](err)
	return ok && configCodes[api.ErrorCode()]
}

// storeError turns a failed store call into the caller's answer: ctx's own
// error when the caller gave up, else a *StoreBusyError (logged once per
// run of failures, counted every time).
func (d *Distributed) storeError(ctx context.Context, key, service string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	e := &StoreBusyError{Key: key, Wait: d.o.BusyRetry, Config: isConfigError(err), Err: err}
	d.mu.Lock()
	first := !d.failing[key]
	d.failing[key] = true
	d.mu.Unlock()
	if e.Config {
		d.rec.Add(MetricStoreConfig, service, 1)
		d.log.Error("limiter: bucket store misconfigured; admitting nothing", "key", key, "err", err)
		return e
	}
	d.rec.Add(MetricStoreBusy, service, 1)
	if first {
		d.log.Warn("limiter: bucket store failing; admitting nothing until it answers",
			"key", key, "err", err, "retryMs", d.o.BusyRetry.Milliseconds())
	}
	return e
}

// storeOK ends a run of store failures for key.
func (d *Distributed) storeOK(key, service string) {
	d.mu.Lock()
	was := d.failing[key]
	delete(d.failing, key)
	d.mu.Unlock()
	if was {
		d.log.Info("limiter: bucket store answering again", "key", key, "service", service)
	}
}

package handler

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// HeartbeatGrace is how long past its deadline a request's heartbeats go
// on: its final summary comes a few minutes after the deadline at most
// (RelaunchGrace, the start watch), and the request is closed then. The
// bound ends the chain of an execution stopped by other means than
// throttlectl cancel, which nothing closes.
const HeartbeatGrace = 15 * time.Minute

// Heartbeat answers (the queue record's action).
const (
	HeartbeatSent      = "sent"
	HeartbeatDuplicate = "duplicate"
	HeartbeatStopped   = "stopped"
)

// heartbeat handles heartbeat seq of a request, brought by the queue
// message messageID: unless the chain should stop (stopReason), it claims
// seq (a duplicate message is refused: one chain only), sends the
// heartbeat and queues the next one an interval later — sooner after a
// failure a retry may fix; a refused token stops the chain and is
// recorded as the callback's final answer. An error leaves the record to
// be redelivered (its claim lets the same message through again).
func (c *Callback) heartbeat(ctx context.Context, m hbMessage, messageID string) (string, error) {
	id, seq := m.Heartbeat.RequestID, m.Heartbeat.Seq
	sr, err := c.store.Request(ctx, id)
	if errors.Is(err, launchstore.ErrNotFound) {
		return HeartbeatStopped, nil
	} else if err != nil {
		return "", err
	}
	log := c.o.Logger.With("requestId", id, "seq", seq)
	why, err := c.stopReason(ctx, sr)
	if err != nil {
		return "", err
	}
	if why != "" {
		log.Info("heartbeats end", "why", why)
		return HeartbeatStopped, nil
	}
	if cbs, ok := c.store.(launchstore.Callbacks); ok {
		if ok, err := cbs.ClaimHeartbeat(ctx, id, seq, messageID); err != nil || !ok {
			return HeartbeatDuplicate, err
		}
	}
	delay := time.Duration(sr.Request.Callback.HeartbeatInterval()) * time.Second
	_, err = c.sfn.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: aws.String(sr.Request.Callback.TaskToken)})
	if err != nil {
		if why := refusal(err); why != "" {
			log.Warn("heartbeat refused: final, heartbeats end", "refusal", why)
			return HeartbeatStopped, c.recordFinal(ctx, id, why)
		}
		log.Warn("heartbeat failed; the next one comes sooner", "err", err)
		delay = heartbeatAfterFailure
	}
	if err := c.queueHeartbeat(ctx, id, seq+1, delay); err != nil {
		return "", err
	}
	return HeartbeatSent, nil
}

// stopReason says why the request's heartbeats end ("" while they go on):
// none asked, the request closed (completed or cancelled), its token
// answered, or its deadline and HeartbeatGrace passed.
func (c *Callback) stopReason(ctx context.Context, sr launch.StoredRequest) (string, error) {
	if sr.Request.Callback.HeartbeatInterval() == 0 || c.sqs == nil || c.queue == "" {
		return "no heartbeats", nil
	}
	if cl, ok := c.store.(launchstore.Closer); ok {
		if state, err := cl.RequestClosed(ctx, sr.Request.RequestID); err != nil {
			return "", err
		} else if state != "" {
			return "request " + state, nil
		}
	}
	if st, err := c.state(ctx, sr.Request.RequestID); err != nil {
		return "", err
	} else if st.Answer != "" {
		return "callback " + st.Answer, nil
	}
	if c.o.Clock.Now().After(sr.Deadline.Add(HeartbeatGrace)) {
		return "deadline passed", nil
	}
	return "", nil
}

// recordFinal records a refused token as the callback's final answer.
func (c *Callback) recordFinal(ctx context.Context, requestID, why string) error {
	if cbs, ok := c.store.(launchstore.Callbacks); ok {
		_, err := cbs.RecordAnswer(ctx, requestID, launchstore.AnswerFinal, why, c.o.Clock.Now())
		return err
	}
	return nil
}

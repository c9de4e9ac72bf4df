package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// EventsAPI is the part of EventBridge the handlers use; *eventbridge.Client
// satisfies it.
type EventsAPI interface {
	PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// SQSAPI is the part of SQS the handlers use; *sqs.Client satisfies it.
type SQSAPI interface {
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var (
	_ EventsAPI = (*eventbridge.Client)(nil)
	_ SQSAPI    = (*sqs.Client)(nil)
)

// putEvent puts one product event on bus; a failed entry is an error.
func putEvent(ctx context.Context, api EventsAPI, bus, detailType string, detail any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("put %s: %w", detailType, err)
	}
	out, err := api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(bus), Source: aws.String(launch.EventSource),
		DetailType: aws.String(detailType), Detail: aws.String(string(b)),
	}}})
	if err != nil {
		return fmt.Errorf("put %s: %w", detailType, err)
	}
	if out.FailedEntryCount > 0 {
		msg := ""
		if len(out.Entries) > 0 {
			msg = aws.ToString(out.Entries[0].ErrorCode) + ": " + aws.ToString(out.Entries[0].ErrorMessage)
		}
		return fmt.Errorf("put %s: entry failed: %s", detailType, msg)
	}
	return nil
}

// DeadLetter is the body of a message on the product's dead-letter queue:
// the failure, plus what is needed to launch the missing units by hand.
type DeadLetter struct {
	launch.LaunchFailedDetail
	Failures []launch.Failure `json:"failures,omitempty"`
	// StartedBy and Token are the last attempt's identity (for finding
	// whatever it did launch).
	StartedBy string `json:"startedBy,omitempty"`
	// OutcomeUnknown says the units may be running: an attempt's outcome
	// was settled by evidence that did not find them all. They must not be
	// launched again under a new token (redrive refuses them); Token is
	// that attempt's client token, to look them up.
	OutcomeUnknown bool   `json:"outcomeUnknown,omitempty"`
	Token          string `json:"token,omitempty"`
}

// sendDeadLetter sends d to the queue. The message attributes let a consumer
// de-duplicate (the send is at least once).
func sendDeadLetter(ctx context.Context, api SQSAPI, url string, d DeadLetter) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	_, err = api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(url),
		MessageBody: aws.String(string(b)),
		MessageAttributes: map[string]sqsAttr{
			"requestId": {DataType: aws.String("String"), StringValue: aws.String(d.RequestID)},
			"chunk":     {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(d.Chunk))},
		},
	})
	if err != nil {
		return fmt.Errorf("dead-letter %s/%d: %w", d.RequestID, d.Chunk, err)
	}
	return nil
}

type sqsAttr = sqstypes.MessageAttributeValue

// deadLetters is where given-up work goes: the product's dead-letter queue,
// then LaunchFailed on the product's bus. Both are at least once.
type deadLetters struct {
	events   EventsAPI
	sqs      SQSAPI
	bus, dlq string
}

func (d deadLetters) send(ctx context.Context, dl DeadLetter) error {
	dl = markOutcomeUnknown(dl)
	if err := sendDeadLetter(ctx, d.sqs, d.dlq, dl); err != nil {
		return err
	}
	return putEvent(ctx, d.events, d.bus, launch.DetailLaunchFailed, dl.LaunchFailedDetail)
}

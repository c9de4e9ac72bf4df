package sqs

import (
	"context"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

func newFaultyClient(t *testing.T, k float64, o Options) *awssqs.Client {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	o.Endpoint, o.Clock = "http://"+srv.Listener.Addr().String(), clock.NewScaled(time.Now(), k)
	srv.Config.Handler = New(o)
	srv.Start()
	t.Cleanup(srv.Close)
	return awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
}

// Fidelity: "Amazon SQS Developer Guide: Amazon SQS standard queues" —
// at-least-once delivery: a copy of a message kept on another server is
// delivered again, possibly while the first receive is still in flight,
// with its own receipt handle; deleting one copy does not delete the
// other. A FIFO queue delivers exactly once.
func TestStandardQueueDeliversCopies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		queue      string
		duplicates float64
		wantCopy   bool
	}{
		{"standard queue, duplicates on", "q", 1, true},
		{"standard queue, duplicates off", "q", 0, false},
		{"FIFO queue", "q.fifo", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := newFaultyClient(t, 1, Options{Duplicates: tc.duplicates, Seed: 1})
			q, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(tc.queue)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("m")}); err != nil {
				t.Fatal(err)
			}
			first, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, VisibilityTimeout: 60})
			if err != nil || len(first.Messages) != 1 {
				t.Fatalf("first receive: got %v %v, want the message", first, err)
			}
			// The first receive is in flight (60 s of real time): only a copy can be received now.
			second, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, VisibilityTimeout: 60})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(second.Messages) == 1; got != tc.wantCopy {
				t.Fatalf("concurrent receive got %d messages, want a copy: %v", len(second.Messages), tc.wantCopy)
			}
			if !tc.wantCopy {
				return
			}
			a, b := first.Messages[0], second.Messages[0]
			if aws.ToString(a.MessageId) != aws.ToString(b.MessageId) || aws.ToString(a.Body) != aws.ToString(b.Body) ||
				aws.ToString(a.ReceiptHandle) == aws.ToString(b.ReceiptHandle) {
				t.Fatalf("copy: got id %s body %s receipt %s, want id %s body %s and another receipt",
					aws.ToString(b.MessageId), aws.ToString(b.Body), aws.ToString(b.ReceiptHandle),
					aws.ToString(a.MessageId), aws.ToString(a.Body))
			}
			attrs, _ := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
				AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessagesNotVisible"}})
			if n := attrs.Attributes["ApproximateNumberOfMessagesNotVisible"]; n != "1" {
				t.Errorf("in flight: got %s, want 1 (a copy is not counted)", n)
			}
			for _, m := range []types.Message{a, b} {
				if _, err := c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: a.ReceiptHandle}); err != nil {
				t.Errorf("deleting twice: got %v, want success", err)
			}
		})
	}
}

// Fidelity: "Amazon SQS Developer Guide: Amazon SQS standard queues" —
// best-effort ordering: messages may be received in another order than
// they were sent. With reordering off the queue is oldest first.
func TestStandardQueueReorders(t *testing.T) {
	t.Parallel()
	for _, reorder := range []bool{true, false} {
		t.Run("reorder="+strconv.FormatBool(reorder), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := newFaultyClient(t, 1, Options{Reorder: reorder, Seed: 3})
			q, _ := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("q")})
			var sent, got []string
			for i := range 10 {
				sent = append(sent, strconv.Itoa(i))
				if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(sent[i])}); err != nil {
					t.Fatal(err)
				}
			}
			for range sent {
				out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, VisibilityTimeout: 60})
				if err != nil || len(out.Messages) != 1 {
					t.Fatalf("receive: %v %v", out, err)
				}
				got = append(got, aws.ToString(out.Messages[0].Body))
			}
			if slices.Equal(got, sent) == reorder {
				t.Errorf("received %v of %v; reordered: %v, want %v", got, sent, !slices.Equal(got, sent), reorder)
			}
			slices.Sort(got)
			if !slices.Equal(got, sent) {
				t.Errorf("received %v, want each of %v once", got, sent)
			}
		})
	}
}

// Fidelity: "Amazon SQS Developer Guide: Using dead-letter queues in
// Amazon SQS" — a message received maxReceiveCount times without being
// deleted moves to the dead-letter queue when its visibility timeout
// ends, instead of being received again.
func TestRedriveAfterMaxReceiveCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newFaultyClient(t, 100, Options{})
	dead, _ := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("dead")})
	q, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"VisibilityTimeout": "1",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dead","maxReceiveCount":2}`}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("poison")}); err != nil {
		t.Fatal(err)
	}
	all := []types.MessageSystemAttributeName{"ApproximateReceiveCount"}
	for want := 1; want <= 2; want++ {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 5, MessageSystemAttributeNames: all})
		if err != nil || len(out.Messages) != 1 || out.Messages[0].Attributes["ApproximateReceiveCount"] != strconv.Itoa(want) {
			t.Fatalf("receive %d: got %+v %v", want, out, err)
		}
	}
	third, _ := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 5})
	if len(third.Messages) != 0 {
		t.Fatalf("third receive got %d messages, want none: the message went to the dead-letter queue", len(third.Messages))
	}
	moved, _ := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: dead.QueueUrl})
	if len(moved.Messages) != 1 || aws.ToString(moved.Messages[0].Body) != "poison" {
		t.Fatalf("dead-letter queue: got %+v, want the message", moved.Messages)
	}
}

package sqs

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

func newTestClient(t *testing.T, k float64) (*awssqs.Client, *Service) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	s := New(Options{Endpoint: "http://" + srv.Listener.Addr().String(), Clock: clock.NewScaled(time.Now(), k)})
	srv.Config.Handler = s
	srv.Start()
	t.Cleanup(srv.Close)
	c := awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
	return c, s
}

func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := newTestClient(t, 1) // real time: the visibility timeout must not expire during the test
	created, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("dlq"), Attributes: map[string]string{"VisibilityTimeout": "10"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String("dlq")})
	if err != nil || aws.ToString(got.QueueUrl) != aws.ToString(created.QueueUrl) {
		t.Fatalf("GetQueueUrl: got %v %v, want %s", got, err, aws.ToString(created.QueueUrl))
	}
	url := created.QueueUrl
	sent, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String(`{"requestId":"r1"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{"reason": {DataType: aws.String("String"), StringValue: aws.String("throttled")}}})
	if err != nil {
		t.Fatal(err) // the client checks MD5OfMessageBody
	}
	if aws.ToString(sent.MD5OfMessageAttributes) == "" {
		t.Error("no MD5OfMessageAttributes")
	}
	recv, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10,
		MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []types.MessageSystemAttributeName{"ApproximateReceiveCount"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(recv.Messages) != 1 || aws.ToString(recv.Messages[0].Body) != `{"requestId":"r1"}` ||
		aws.ToString(recv.Messages[0].MessageAttributes["reason"].StringValue) != "throttled" ||
		recv.Messages[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("got %+v, want the one message with its attribute", recv.Messages)
	}
	attrs, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: url, AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Attributes["ApproximateNumberOfMessages"] != "0" || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "1" {
		t.Errorf("attributes while in flight: got %v", attrs.Attributes)
	}
	again, _ := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: url})
	if len(again.Messages) != 0 {
		t.Errorf("got %d messages during the visibility timeout, want 0", len(again.Messages))
	}
	if _, err := c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: recv.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	attrs, _ = c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: url, AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessagesNotVisible"}})
	if attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Errorf("after delete: got %v", attrs.Attributes)
	}
}

func TestVisibilityTimeoutExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := newTestClient(t, 100)
	q, _ := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("q")})
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("m")}); err != nil {
		t.Fatal(err)
	}
	first, _ := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, VisibilityTimeout: 1})
	// A long poll of 20 simulated seconds (0.2 s real) sees it again after 1 s.
	second, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 20,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Messages) != 1 || len(second.Messages) != 1 || second.Messages[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("got %d then %d messages (%v), want the message twice", len(first.Messages), len(second.Messages), second.Messages)
	}
}

func TestLongPollWakesOnSend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, s := newTestClient(t, 100)
	q, _ := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("q")})
	var wg sync.WaitGroup
	var got *awssqs.ReceiveMessageOutput
	wg.Go(func() {
		got, _ = c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 20})
	})
	if _, err := s.Send(ctx, "arn:aws:sqs:us-east-1:000000000000:q", "hello", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if got == nil || len(got.Messages) != 1 {
		// The poll may have ended before the send only if 20 simulated seconds passed.
		t.Fatalf("got %+v, want the message sent while polling", got)
	}
}

func TestUnknownQueue(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, 100)
	_, err := c.GetQueueUrl(context.Background(), &awssqs.GetQueueUrlInput{QueueName: aws.String("nope")})
	var nq *types.QueueDoesNotExist
	if !errors.As(err, &nq) {
		t.Fatalf("got %v, want QueueDoesNotExist", err)
	}
}

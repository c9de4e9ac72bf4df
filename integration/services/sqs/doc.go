// Package sqs is the local SQS: the subset of the API the product uses for
// its dead-letter queue (CreateQueue, GetQueueUrl, ListQueues, DeleteQueue,
// PurgeQueue, SendMessage, SendMessageBatch, ReceiveMessage with long
// polling, DeleteMessage, DeleteMessageBatch, ChangeMessageVisibility,
// GetQueueAttributes) over the JSON 1.0 protocol the sqs v1.52 client speaks
// (X-Amz-Target AmazonSQS.*): no existing local SQS speaks it (tooling.md §8).
//
// A queue's RedrivePolicy (deadLetterTargetArn, maxReceiveCount) moves a
// message received maxReceiveCount times to its dead-letter queue on the
// next receive. Receive and Delete serve in-process consumers (the local
// event source mapping).
//
// Standard queues are at least once and unordered ("Amazon SQS Developer
// Guide: Amazon SQS standard queues"): with Options.Duplicates a received
// message stays behind as a second copy, visible at once, so it can be
// received again (even concurrently) with another receipt handle, and
// deleting one copy leaves the other; with Options.Reorder a receive picks
// among the visible messages at random. Both are seeded (Options.Seed).
// Queues named *.fifo get neither. Copies are not counted in the depth.
//
// Delays, visibility timeouts and long-poll waits are simulated seconds on the
// stack's scaled clock. Queue URLs are <endpoint>/<account>/<name>; a queue
// is found by the last segment of its URL or ARN, whatever the host.
package sqs

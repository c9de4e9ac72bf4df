package lambda

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsl "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestFidelityAccountSettings follows AWS Lambda API Reference:
// GetAccountSettings and GetFunctionConcurrency, and AWS Lambda Developer
// Guide: Configuring reserved concurrency for a function. AccountLimit
// reports the account's concurrent executions and, as
// UnreservedConcurrentExecutions, what is left after every function's
// reservation; GetFunctionConcurrency answers a function's reservation
// (none: the field is absent) and ResourceNotFoundException for an unknown
// function.
func TestFidelityAccountSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		limit          int
		reserved       map[string]int
		put            *int32 // PutFunctionConcurrency of "work" before reading
		wantUnreserved int32
		wantWork       *int32
	}{
		{"no reservation", 1000, nil, nil, 1000, nil},
		{"the stack's 120 of 1000", 1000, map[string]int{"work": 100, "other": 20}, nil, 880, aws.Int32(100)},
		{"the stack's 120 of 300", 300, map[string]int{"work": 100, "other": 20}, nil, 180, aws.Int32(100)},
		{"a reservation of 0 takes nothing", 1000, nil, aws.Int32(0), 1000, aws.Int32(0)},
		{"a put reservation counts", 1000, map[string]int{"other": 20}, aws.Int32(50), 930, aws.Int32(50)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(testResolver(nil, nil), quiet, func(o *Options) { o.Concurrency, o.Reserved = tc.limit, tc.reserved })
			t.Cleanup(s.Close)
			c := newClient(t, s)
			ctx := context.Background()
			if tc.put != nil {
				if _, err := c.PutFunctionConcurrency(ctx, &awsl.PutFunctionConcurrencyInput{FunctionName: aws.String("work"), ReservedConcurrentExecutions: tc.put}); err != nil {
					t.Fatal(err)
				}
			}
			st, err := c.GetAccountSettings(ctx, &awsl.GetAccountSettingsInput{})
			if err != nil {
				t.Fatal(err)
			}
			if got := st.AccountLimit; got.ConcurrentExecutions != int32(tc.limit) || aws.ToInt32(got.UnreservedConcurrentExecutions) != tc.wantUnreserved {
				t.Errorf("AccountLimit %d / %d unreserved, want %d / %d", got.ConcurrentExecutions, aws.ToInt32(got.UnreservedConcurrentExecutions), tc.limit, tc.wantUnreserved)
			}
			fc, err := c.GetFunctionConcurrency(ctx, &awsl.GetFunctionConcurrencyInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:work")})
			if err != nil {
				t.Fatal(err)
			}
			if got := fc.ReservedConcurrentExecutions; (got == nil) != (tc.wantWork == nil) || (got != nil && *got != *tc.wantWork) {
				t.Errorf("GetFunctionConcurrency(work) = %v, want %v", aws.ToInt32(got), aws.ToInt32(tc.wantWork))
			}
		})
	}
	s := New(testResolver(nil, nil), quiet)
	t.Cleanup(s.Close)
	var nf *types.ResourceNotFoundException
	if _, err := newClient(t, s).GetFunctionConcurrency(context.Background(), &awsl.GetFunctionConcurrencyInput{FunctionName: aws.String("nope")}); !errors.As(err, &nf) {
		t.Errorf("unknown function: got %v, want ResourceNotFoundException", err)
	}
}

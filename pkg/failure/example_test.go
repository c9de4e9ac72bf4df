package failure_test

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

func ExampleClassify() {
	c := failure.Classify([]byte(`{"Error":"ECS.AmazonECSException",
		"Cause":"Rate exceeded. (Service: AmazonECS; Status Code: 400; Error Code: ThrottlingException; Request ID: 6c0a)"}`))
	fmt.Println(c.Class, c.Code, c.MinDelaySeconds, c.ReuseToken)
	// Output: throttled ThrottlingException 1 false
}

func ExampleClassifyError() {
	// ECS wraps EC2's throttle of its own DescribeSubnets call in
	// InvalidParameterException: a throttle, not bad input.
	err := &smithy.GenericAPIError{Code: "InvalidParameterException",
		Message: "Error retrieving subnet information for [subnet-0a1b2c3d]: Rate exceeded (ErrorCode: Throttling)"}
	c := failure.ClassifyError(err)
	fmt.Println(c.Class, c.Code)
	// Output: throttled Throttling
}

func ExampleErrorFor() {
	c := failure.ClassifyError(&smithy.GenericAPIError{Code: "InsufficientFreeAddressesInSubnet",
		Message: "The specified subnet subnet-0a1b2c3d does not have enough free addresses to satisfy the request."})
	err := failure.ErrorFor(c, "ec2:RunInstances", errors.New("no free addresses"))
	var ce *failure.CapacityError
	fmt.Println(errors.As(err, &ce), ce.Scope, ce.ScopeValue)
	fmt.Println(err)
	// Output:
	// true subnet subnet-0a1b2c3d
	// insufficient capacity InsufficientFreeAddressesInSubnet in ec2:RunInstances [subnet subnet-0a1b2c3d]: no free addresses
}

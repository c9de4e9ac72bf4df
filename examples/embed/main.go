// Command embed is an example Go CDK app of a user's own: its stack
// (package platform) places the throttle-handler construct next to the
// user's resources. `go run ./examples/embed` (after `make build`)
// synthesizes it into a temporary directory and prints its path; the
// product's CDK tests check the same stack with assertions
// (infra/cdk/stack/embed_test.go).
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/throttle-handler/throttle-handler/examples/embed/platform"
	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
)

func main() {
	app := awscdk.NewApp(nil)
	platform.New(app, "MyPlatform", platform.Options{
		Settings: settings.Settings{Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"}, TaskRoles: []string{"jobTaskRole"}},
	})
	asm := app.Synth(nil)
	fmt.Fprintln(os.Stdout, "synthesized into", *asm.Directory())
}

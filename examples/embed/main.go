// Command embed is an example Go CDK app of a user's own: its stack
// (package platform) places the throttle-handler construct next to the
// user's resources. `go run ./examples/embed` (after `make build`)
// synthesizes it into cdk.out/embed (or CDK_OUTDIR); the product's CDK
// tests check the same stack with assertions (infra/cdk/stack/embed_test.go).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/throttle-handler/throttle-handler/examples/embed/platform"
	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
)

func main() {
	var props *awscdk.AppProps
	if os.Getenv("CDK_OUTDIR") == "" { // set by the cdk CLI
		props = &awscdk.AppProps{Outdir: jsii.String(filepath.Join("cdk.out", "embed"))}
	}
	app := awscdk.NewApp(props)
	platform.New(app, "MyPlatform", platform.Options{
		Settings: settings.Settings{Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"}, TaskRoles: []string{"jobTaskRole"}},
	})
	asm := app.Synth(nil)
	fmt.Fprintln(os.Stdout, "synthesized into", *asm.Directory())
}

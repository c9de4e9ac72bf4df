// Command cdk is the throttle-handler CDK app: `go run ./infra/cdk` (or
// `cdk synth` through cdk.json) synthesizes the stack into cdk.out with no
// AWS credentials. Settings come from CDK context; see doc.go.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
	"github.com/throttle-handler/throttle-handler/infra/cdk/stack"
)

func main() {
	// No jsii.Close: in jsii-runtime-go v1.128.0 it races its own watcher
	// goroutine for the node child's exit status and prints "Runtime process
	// exited abnormally: waitid: no child processes". The runtime exits by
	// itself when this process ends and closes its stdin.
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra/cdk:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	app := awscdk.NewApp(appProps())
	s, opts, err := settings.FromContext(func(k string) any { return app.Node().TryGetContext(jsii.String(k)) })
	if err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	defer func() { // NewThrottleStack panics on bad files, as constructs throw
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	stack.NewThrottleStack(app, opts.StackName, &stack.ThrottleStackProps{
		Settings: s, AssetDir: opts.AssetDir, StateMachineDir: opts.StateMachineDir, RulesDir: opts.RulesDir,
	})
	return nagErrors(app.Synth(nil))
}

// appProps writes to cdk.out when run without the CLI (which sets
// CDK_OUTDIR and passes cdk.json's context in CDK_CONTEXT_JSON), reading
// cdk.json's context itself so both ways synthesize the same stack.
func appProps() *awscdk.AppProps {
	if os.Getenv("CDK_OUTDIR") != "" {
		return nil
	}
	props := &awscdk.AppProps{Outdir: jsii.String("cdk.out")}
	if os.Getenv("CDK_CONTEXT_JSON") == "" {
		if b, err := os.ReadFile("cdk.json"); err == nil {
			var cfg struct {
				Context map[string]any `json:"context"`
			}
			if json.Unmarshal(b, &cfg) == nil && cfg.Context != nil {
				props.Context = &cfg.Context
			}
		}
	}
	return props
}

// nagErrors fails on error annotations (cdk-nag's unsuppressed findings), as
// the CLI does, so `go run ./infra/cdk` cannot succeed where `cdk synth`
// would not. It reads the assembly's manifest.json rather than the Go
// cxapi message types, which are deprecated.
func nagErrors(asm cxapi.CloudAssembly) error {
	dir := *asm.Directory()
	var manifest struct {
		Artifacts map[string]struct {
			Metadata               metadata `json:"metadata"`
			AdditionalMetadataFile string   `json:"additionalMetadataFile"`
		} `json:"artifacts"`
	}
	if err := readJSON(filepath.Join(dir, "manifest.json"), &manifest); err != nil {
		return err
	}
	n := 0
	for _, art := range manifest.Artifacts {
		md := art.Metadata
		if art.AdditionalMetadataFile != "" { // where newer CDK versions put it
			if err := readJSON(filepath.Join(dir, art.AdditionalMetadataFile), &md); err != nil {
				return err
			}
		}
		for path, entries := range md {
			for _, e := range entries {
				if e.Type == "aws:cdk:error" {
					fmt.Fprintf(os.Stderr, "%s: %v\n", path, e.Data)
					n++
				}
			}
		}
	}
	if n > 0 {
		return fmt.Errorf("%d error annotations (cdk-nag findings without a suppression)", n)
	}
	return nil
}

// metadata is a cloud assembly artifact's metadata: entries by construct path.
type metadata map[string][]struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cloud assembly: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("cloud assembly: %s: %w", path, err)
	}
	return nil
}

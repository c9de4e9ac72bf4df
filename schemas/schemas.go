// Package schemas holds the JSON Schemas (draft 2020-12) of the product's
// events on its bus: the detail of LaunchRequested (a launch request),
// LaunchCompleted (a summary), LaunchFailed (units given up on) and
// LaunchCancelled. The *.schema.json files are the contract (README.md);
// this package embeds them and validates documents against them, for the
// product's tests and for Go consumers. The tests keep them exact: every
// JSON field of the Go types in pkg/launch is in its schema and the
// schemas have no property the types lack.
package schemas

import (
	"bytes"
	"embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

//go:embed *.schema.json
var files embed.FS

// Files maps each event's detail-type to its schema file.
var Files = map[string]string{
	launch.DetailLaunchRequested: "launch-requested.schema.json",
	launch.DetailLaunchCompleted: "launch-completed.schema.json",
	launch.DetailLaunchFailed:    "launch-failed.schema.json",
	launch.DetailLaunchCancelled: "launch-cancelled.schema.json",
}

// BaseURL prefixes each schema's $id.
const BaseURL = "https://github.com/throttle-handler/throttle-handler/schemas/"

// Raw returns a schema file's bytes.
func Raw(file string) ([]byte, error) { return files.ReadFile(file) }

var compiled = sync.OnceValues(compileAll)

// compileAll compiles every schema with format assertions on (date-time
// is checked, not only annotated).
func compileAll() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for detailType, file := range Files {
		b, err := files.ReadFile(file)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", file, err)
		}
		url := BaseURL + file // each file's $id
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", file, err)
		}
		sch, err := c.Compile(url)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", file, err)
		}
		out[detailType] = sch
	}
	return out, nil
}

// Validate checks detail, a JSON document, against the schema of the
// event detailType.
func Validate(detailType string, detail []byte) error {
	all, err := compiled()
	if err != nil {
		return err
	}
	sch, ok := all[detailType]
	if !ok {
		return fmt.Errorf("schemas: no schema for detail-type %q", detailType)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(detail))
	if err != nil {
		return fmt.Errorf("%s detail: not JSON: %w", detailType, err)
	}
	if err := sch.Validate(doc); err != nil {
		return fmt.Errorf("%s detail: %w", detailType, err)
	}
	return nil
}

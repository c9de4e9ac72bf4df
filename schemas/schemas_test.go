package schemas

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
)

// types maps each event's detail-type to the Go type of its detail.
var types = map[string]reflect.Type{
	launch.DetailLaunchRequested: reflect.TypeFor[launch.Request](),
	launch.DetailLaunchCompleted: reflect.TypeFor[launch.Summary](),
	launch.DetailLaunchFailed:    reflect.TypeFor[launch.LaunchFailedDetail](),
	launch.DetailLaunchCancelled: reflect.TypeFor[launch.LaunchCancelledDetail](),
}

func TestSchemasCompile(t *testing.T) {
	t.Parallel()
	if _, err := compiled(); err != nil {
		t.Fatal(err)
	}
	if len(Files) != len(types) {
		t.Fatalf("%d schemas, %d event types", len(Files), len(types))
	}
}

// TestSchemasMatchTheTypes is the drift check: for every struct reachable
// from an event's Go type, the schema node it maps to lists exactly the
// struct's JSON fields as properties and refuses others.
func TestSchemasMatchTheTypes(t *testing.T) {
	t.Parallel()
	for detailType, typ := range types {
		t.Run(detailType, func(t *testing.T) {
			t.Parallel()
			b, err := Raw(Files[detailType])
			if err != nil {
				t.Fatal(err)
			}
			var root map[string]any
			if err := json.Unmarshal(b, &root); err != nil {
				t.Fatal(err)
			}
			if root["$id"] != BaseURL+Files[detailType] {
				t.Errorf("$id %v, want %s", root["$id"], BaseURL+Files[detailType])
			}
			d := drift{t: t, root: root, seen: map[reflect.Type]bool{}}
			d.check(typ.Name(), typ, root)
		})
	}
}

type drift struct {
	t    *testing.T
	root map[string]any
	seen map[reflect.Type]bool
}

// resolve follows a local $ref ("#/$defs/name").
func (d drift) resolve(where string, node map[string]any) map[string]any {
	ref, ok := node["$ref"].(string)
	if !ok {
		return node
	}
	name, found := strings.CutPrefix(ref, "#/$defs/")
	defs, _ := d.root["$defs"].(map[string]any)
	target, _ := defs[name].(map[string]any)
	if !found || target == nil {
		d.t.Fatalf("%s: $ref %q does not resolve", where, ref)
	}
	return target
}

// check compares struct type typ with the schema node of it.
func (d drift) check(where string, typ reflect.Type, node map[string]any) {
	node = d.resolve(where, node)
	if d.seen[typ] {
		return
	}
	d.seen[typ] = true
	props, _ := node["properties"].(map[string]any)
	if node["additionalProperties"] != false {
		d.t.Errorf("%s: the schema must set additionalProperties false (the type is exact)", where)
	}
	fields := jsonFields(typ)
	for name, ft := range fields {
		p, ok := props[name].(map[string]any)
		if !ok {
			d.t.Errorf("%s: field %q of %s is not in the schema", where, name, typ)
			continue
		}
		d.element(where+"."+name, ft, p)
	}
	for name := range props {
		if _, ok := fields[name]; !ok {
			d.t.Errorf("%s: the schema has property %q, which %s lacks", where, name, typ)
		}
	}
}

// element descends through pointers, slices and maps to structs.
func (d drift) element(where string, ft reflect.Type, p map[string]any) {
	for ft.Kind() == reflect.Pointer {
		ft = ft.Elem()
	}
	switch {
	case ft == reflect.TypeFor[time.Time]():
	case ft.Kind() == reflect.Struct:
		d.check(where, ft, p)
	case ft.Kind() == reflect.Slice && isStruct(ft.Elem()):
		items, ok := d.resolve(where, p)["items"].(map[string]any)
		if !ok {
			d.t.Errorf("%s: a list of %s needs items in the schema", where, ft.Elem())
			return
		}
		d.element(where+"[]", ft.Elem(), items)
	}
}

func isStruct(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && t != reflect.TypeFor[time.Time]()
}

// jsonFields is the JSON name of each field encoding/json writes.
func jsonFields(typ reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range typ.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// requestExamples are the launch requests the repository shows: its
// testdata, and every JSON block of the docs that is a request or a
// LaunchRequested envelope.
func requestExamples(t *testing.T) map[string][]byte {
	t.Helper()
	root := testenv.RepoRoot()
	out := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join(root, "pkg", "launch", "testdata", "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(f, root+"/")] = b
	}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append(docs, filepath.Join(root, "README.md"), filepath.Join(root, "pkg", "launch", "README.md"), filepath.Join(root, "functions", "submit", "README.md"))
	block := regexp.MustCompile("(?s)```json\n(.*?)```")
	for _, f := range docs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range block.FindAllSubmatch(b, -1) {
			if doc := requestOf(m[1]); doc != nil {
				out[strings.TrimPrefix(f, root+"/")+"#"+string(rune('a'+i))] = doc
			}
		}
	}
	return out
}

// requestOf is the request in a JSON block: the block itself if it has a
// requestId and ecs or ec2, or an envelope's detail; nil otherwise.
func requestOf(b []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	if d, ok := m["detail"]; ok && strings.Contains(string(m["detail-type"]), launch.DetailLaunchRequested) {
		return requestOf(d)
	}
	_, id := m["requestId"]
	_, ecs := m["ecs"]
	_, ec2 := m["ec2"]
	if id && (ecs || ec2) {
		return b
	}
	return nil
}

// TestRequestExamples: every request the repository shows that the
// product accepts is valid by the schema.
func TestRequestExamples(t *testing.T) {
	t.Parallel()
	ex := requestExamples(t)
	accepted := 0
	for name, b := range ex {
		if _, err := launch.ParseRequest(b); err != nil {
			t.Logf("%s: the product refuses it (%v): not an example of a valid request", name, err)
			continue
		}
		accepted++
		if err := Validate(launch.DetailLaunchRequested, b); err != nil {
			t.Errorf("%s: accepted by the product, refused by the schema: %v", name, err)
		}
	}
	t.Logf("%d request examples valid by the product and the schema, of %d found", accepted, len(ex))
	if accepted < 3 {
		t.Fatalf("%d accepted request examples found (%d JSON blocks that look like requests): the docs' examples were not found", accepted, len(ex))
	}
}

// TestBadRequests: the schema refuses what the product refuses when
// decoding (a wrong type, an unknown field: the cases naming "request"),
// and never refuses the catalogue's base request.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	base, _ := json.Marshal(launchtest.BadBase())
	if err := Validate(launch.DetailLaunchRequested, base); err != nil {
		t.Fatalf("the catalogue's valid base: %v", err)
	}
	caught := 0
	for _, c := range launchtest.BadCatalogue() {
		err := Validate(launch.DetailLaunchRequested, launchtest.BadRequest(c))
		if err != nil {
			caught++
		}
		if c.Field == "request" && err == nil {
			t.Errorf("%s: refused by the product's decoding, accepted by the schema", c.Name)
		}
	}
	t.Logf("the schema refuses %d of the catalogue's %d bad requests; the rest break rules across fields or limits the product checks", caught, len(launchtest.BadCatalogue()))
}

// TestGoValuesValidate: the events' Go values, every field set, as
// encoding/json writes them, are valid by their schemas.
func TestGoValuesValidate(t *testing.T) {
	t.Parallel()
	at := launchtest.T0
	pct, cnt := 10.0, 1
	full := map[string]any{
		launch.DetailLaunchCompleted: launch.Summary{RequestID: "r1", Requested: 10, Launched: 7, Failed: 3, DeadLettered: 3, Unfinished: 1,
			RelaunchesUnfinished: 1, Reasons: map[string]int{"permanent: ClientException": 3}, Relaunched: 2, CompletedAt: at, WaitingForQuota: 1,
			Counts: map[string]int{launch.ResultSucceeded: 7, launch.ResultDeadLettered: 3}, Status: launch.StatusFailed, Error: launch.ErrLaunchIncomplete,
			Cause: `{"requestId":"r1"}`, Results: &launch.ResultsLocation{Table: "t", PK: "req#r1", SKPrefix: "task#", S3: "s3://b/k"},
			FirstReasons: []launch.UnitReason{{Index: 3, Status: launch.ResultDeadLettered, Reason: "ClientException"}}},
		launch.DetailLaunchFailed: launch.LaunchFailedDetail{RequestID: "r1", Chunk: 2, Kind: launch.KindECS, Attempt: 3, Missing: 10,
			Class: "permanent", Code: "ClientException", Reason: "bad", StoppedTaskARN: "arn:aws:ecs:us-east-1:1:task/c/t", At: at},
		launch.DetailLaunchCancelled: launch.LaunchCancelledDetail{RequestID: "r1", Requested: 10, Launched: 4, DeadLettered: 1,
			CancelledBeforeLaunch: 5, Stopped: 4, Cause: "operator", At: at},
		launch.DetailLaunchRequested: launch.Request{Version: 2, RequestID: "r1", ECS: launchtest.ECSRequest("r1", 10).ECS,
			WaitForCompletion: true, RetryStrategy: &launch.RetryStrategy{Attempts: 2, EvaluateOnExit: []launch.EvaluateOnExit{{OnExitCode: "1", Action: "retry"}}},
			Timeout: &launch.JobTimeout{AttemptDurationSeconds: 60}, ToleratedFailurePercentage: &pct, ToleratedFailureCount: &cnt},
	}
	for detailType, v := range full {
		b, _ := json.Marshal(v)
		if err := Validate(detailType, b); err != nil {
			t.Errorf("%s, fully set: %v\n%s", detailType, err, b)
		}
	}
}

package handler

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// maxItemProblems bounds the problems one bad itemsFrom object reports.
const maxItemProblems = 20

// planItems returns the items of an items request, one JSON TaskOverride
// (un-merged) per index, every one validated: inline items as the request
// has them; ecs.itemsFrom read from S3. A bad object is a PermanentError
// naming its line numbers (line n is index n-1) and fields; an object
// that cannot be read (missing, no access) a PermanentError naming bucket
// and key; S3 failing otherwise a TransientError.
func (h *PlanHandler) planItems(ctx context.Context, r launch.Request) ([]json.RawMessage, error) {
	if r.ECS == nil || !r.ECS.HasItems() {
		return nil, nil
	}
	if r.ECS.ItemsFrom == nil {
		out := make([]json.RawMessage, len(r.ECS.Items))
		for i, it := range r.ECS.Items {
			b, err := json.Marshal(it)
			if err != nil {
				return nil, permanent("plan", "InvalidRequest", err)
			}
			out[i] = b
		}
		return out, nil
	}
	ref := *r.ECS.ItemsFrom
	if h.o.S3 == nil {
		return nil, permanent("plan", "ItemsFromUnavailable", fmt.Errorf("ecs.itemsFrom: s3://%s/%s: this stack has no S3 client for itemsFrom", ref.Bucket, ref.Key))
	}
	obj, err := h.o.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(ref.Bucket), Key: aws.String(ref.Key)})
	if err != nil {
		return nil, itemsFromErr(ref, err)
	}
	defer func() { _ = obj.Body.Close() }()
	items, problems, err := readItems(r, obj.Body)
	if err != nil {
		return nil, transientErr("plan", fmt.Errorf("ecs.itemsFrom: reading s3://%s/%s: %w", ref.Bucket, ref.Key, err))
	}
	if len(problems) > 0 {
		return nil, permanent("plan", "InvalidRequest", &launch.ValidationError{Problems: problems})
	}
	return items, nil
}

// itemsFromErr: an object that is not there or not ours to read is the
// request's fault (permanent); anything else may pass (transient).
func itemsFromErr(ref launch.S3Ref, err error) error {
	where := fmt.Sprintf("ecs.itemsFrom: s3://%s/%s", ref.Bucket, ref.Key)
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch {
	case code == "NoSuchKey" || code == "NotFound" || (status == http.StatusNotFound && code != "NoSuchBucket"):
		return permanent("plan", "ItemsFromNotFound", fmt.Errorf("%s: no such object (%s)", where, orCode(code, status)))
	case code == "NoSuchBucket":
		return permanent("plan", "ItemsFromNotFound", fmt.Errorf("%s: no such bucket %q (%s)", where, ref.Bucket, code))
	case code == "AccessDenied" || status == http.StatusForbidden:
		return permanent("plan", "ItemsFromAccessDenied", fmt.Errorf("%s: access denied: the plan function's role needs s3:GetObject on it (%s)", where, orCode(code, status)))
	}
	return transientErr("plan", fmt.Errorf("%s: %w", where, err))
}

func orCode(code string, status int) string {
	if code != "" {
		return code
	}
	return fmt.Sprintf("HTTP %d", status)
}

// readItems reads a JSON Lines object of items: exactly ecs.count lines
// (a final newline is allowed), each a TaskOverride (unknown fields are
// errors, as in the request) that merges within RunTask's limits. err is
// a failure to read; problems name what is wrong with the content.
func readItems(r launch.Request, body io.Reader) (items []json.RawMessage, problems []string, err error) {
	want := r.ECS.Count
	// Each line is at most RunTask's overrides limit (+ CR LF); one line
	// more than expected is enough to report the count.
	br := bufio.NewReaderSize(io.LimitReader(body, int64(want+1)*(launch.MaxOverridesBytes+2)), 64*1024)
	add := func(format string, a ...any) {
		if len(problems) < maxItemProblems {
			problems = append(problems, fmt.Sprintf(format, a...))
		}
	}
	lines := 0
	for {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return nil, nil, rerr
		}
		if len(line) > 0 || rerr == nil {
			lines++
			if lines <= want {
				it, p := parseItemLine(r, lines, bytes.TrimRight(line, "\r\n"))
				if p != "" {
					add("%s", p)
				}
				items = append(items, it)
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	if lines != want {
		more := ""
		if lines > want {
			more = " or more"
		}
		add("ecs.itemsFrom: the object has %d%s lines, ecs.count is %d: they must be equal (one item a line)", lines, more, want)
	}
	return items, problems, nil
}

// parseItemLine checks line n (1-based: item n-1) and returns the item as
// stored, or a problem naming the line and the field.
func parseItemLine(r launch.Request, n int, line []byte) (json.RawMessage, string) {
	at := fmt.Sprintf("ecs.itemsFrom line %d", n)
	if len(line) > launch.MaxOverridesBytes {
		return nil, fmt.Sprintf("%s: must be at most %d bytes, got %d", at, launch.MaxOverridesBytes, len(line))
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, at + ": empty; every line is one item (a task overrides object)"
	}
	var it launch.TaskOverride
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&it); err != nil {
		return nil, fmt.Sprintf("%s: not a task overrides object: %s", at, strings.TrimPrefix(err.Error(), "json: "))
	}
	for j, c := range it.ContainerOverrides {
		if c.Name == "" {
			return nil, fmt.Sprintf("%s: containerOverrides[%d].name: required", at, j)
		}
	}
	if _, err := r.ItemOverridesWith(n-1, it); err != nil {
		return nil, fmt.Sprintf("%s: %s", at, strings.TrimPrefix(err.Error(), "items: "))
	}
	b, err := json.Marshal(it)
	if err != nil {
		return nil, fmt.Sprintf("%s: %v", at, err)
	}
	return b, ""
}

package failure

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxText bounds how much of a message is scanned and reported: Step
// Functions causes reach 32 KB, and the classification travels in a
// 256 KB state payload.
const maxText = 1024

// clip cuts s to maxText bytes on a rune boundary and makes it valid UTF-8.
func clip(s string) string {
	if len(s) > maxText {
		s = s[:maxText]
	}
	// Replacing comes before the final cut: each invalid byte becomes a
	// 3-byte U+FFFD, so a clipped message of stray bytes could triple.
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > maxText {
		cut := maxText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// isCodeByte reports whether b may appear in an AWS error code.
func isCodeByte(b byte) bool {
	return b == '.' || b == '_' || b == '-' || ('0' <= b && b <= '9') || ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z')
}

// tokenAfter returns the code-shaped token that follows the first marker
// in s, or "".
func tokenAfter(s, marker string) string {
	i := strings.Index(s, marker)
	if i < 0 {
		return ""
	}
	s = s[i+len(marker):]
	end := 0
	for end < len(s) && end < 128 && isCodeByte(s[end]) {
		end++
	}
	return s[:end]
}

// embeddedCode finds an AWS error code quoted inside free text, in the
// shapes AWS and its SDKs print:
//
//	... Rate exceeded (ErrorCode: Throttling)             ECS wrapping EC2
//	(Service: AmazonECS; ...; Error Code: ThrottlingException; ...)   Java SDK (Step Functions causes)
//	..., api error ThrottlingException: Rate exceeded     aws-sdk-go-v2
//	An error occurred (ThrottlingException) when calling  boto3
func embeddedCode(s string) string {
	s = clip(s)
	for _, marker := range [...]string{"(ErrorCode: ", "Error Code: ", "api error ", "An error occurred ("} {
		if c := tokenAfter(s, marker); c != "" {
			return c
		}
	}
	return ""
}

// sdkText is what can be read back from an error's text when only its
// string survived (a Lambda errorMessage, a Step Functions Cause).
type sdkText struct {
	code, api, msg string
	status         int
}

// parseText reads the operation, status code, error code and message out of
// the texts aws-sdk-go-v2, the Java SDK and boto3 print.
func parseText(s string) sdkText {
	s = clip(s)
	t := sdkText{msg: s, code: embeddedCode(s)}
	// aws-sdk-go-v2: "operation error ECS: RunTask, ..."
	if i := strings.Index(s, "operation error "); i >= 0 {
		rest := s[i+len("operation error "):]
		if svc, after, ok := strings.Cut(rest, ": "); ok && len(svc) <= 64 && !strings.ContainsAny(svc, ",:") {
			if op, _, ok := strings.Cut(after, ","); ok && !strings.ContainsAny(op, " ") {
				t.api = apiName(svc, op)
			}
		}
	}
	if i := strings.Index(s, "api error "); i >= 0 && t.code != "" {
		if _, m, ok := strings.Cut(s[i+len("api error "):], ": "); ok {
			t.msg = m
		}
	}
	// Java SDK: "(Service: AmazonECS; Status Code: 400; ...)"
	if svc := tokenAfter(s, "(Service: "); svc != "" && t.api == "" {
		t.api = apiName(strings.TrimPrefix(strings.TrimPrefix(svc, "Amazon"), "AWS"), "")
		if i := strings.Index(s, " (Service: "); i > 0 {
			t.msg = s[:i]
		}
	}
	for _, marker := range [...]string{"StatusCode: ", "Status Code: ", "status code: "} {
		if n, err := strconv.Atoi(tokenAfter(s, marker)); err == nil && n >= 100 && n < 600 {
			t.status = n
			break
		}
	}
	return t
}

// apiName spells a service and operation as the limiter's buckets do:
// "ecs:RunTask", or the service alone when the operation is unknown.
func apiName(service, op string) string {
	svc := strings.ToLower(strings.ReplaceAll(service, " ", ""))
	switch svc {
	case "ec2containerservice", "elasticcontainerservice":
		svc = "ecs"
	case "awslambda":
		svc = "lambda"
	}
	if op == "" {
		return svc
	}
	return svc + ":" + op
}

// scopeValues pulls what a capacity message names: the subnet, AZ or
// instance type the shortage is specific to, and an AZ that narrows it.
//
//	We currently do not have sufficient c5.large capacity in the Availability Zone you requested (us-east-1a). ...
//	The specified subnet subnet-0a1b2c3d does not have enough free addresses to satisfy the request.
func scopeValues(scope ScopeKind, msg string) (value, az string) {
	msg = clip(msg)
	az = findAZ(msg)
	switch scope {
	case ScopeSubnet:
		value = findPrefixed(msg, "subnet-")
	case ScopeAZ:
		value = az
	case ScopeInstanceType:
		if v := tokenAfter(msg, "sufficient "); strings.Contains(v, ".") {
			value = strings.TrimSuffix(v, ".")
		}
	}
	return value, az
}

// findPrefixed returns the first word of s that starts with prefix.
func findPrefixed(s, prefix string) string {
	for i := 0; ; {
		j := strings.Index(s[i:], prefix)
		if j < 0 {
			return ""
		}
		start := i + j
		if start == 0 || !isCodeByte(s[start-1]) {
			end := start + len(prefix)
			for end < len(s) && isCodeByte(s[end]) && s[end] != '.' {
				end++
			}
			if end > start+len(prefix) {
				return s[start:end]
			}
		}
		i = start + len(prefix)
	}
}

// findAZ returns the first word of s shaped like an Availability Zone
// name (us-east-1a, eu-central-2b, us-gov-west-1c).
func findAZ(s string) string {
	for i := 0; i < len(s); {
		for i < len(s) && !isAZByte(s[i]) {
			i++
		}
		j := i
		for j < len(s) && isAZByte(s[j]) {
			j++
		}
		if isAZ(s[i:j]) {
			return s[i:j]
		}
		i = j
	}
	return ""
}

func isAZByte(b byte) bool { return b == '-' || ('0' <= b && b <= '9') || ('a' <= b && b <= 'z') }

// isAZ checks <letters>(-<letters>)+-<digits><letter>.
func isAZ(w string) bool {
	parts := strings.Split(w, "-")
	if len(parts) < 3 {
		return false
	}
	for _, p := range parts[:len(parts)-1] {
		if p == "" || strings.TrimLeft(p, "abcdefghijklmnopqrstuvwxyz") != "" {
			return false
		}
	}
	last := parts[len(parts)-1]
	if len(last) < 2 {
		return false
	}
	letter := last[len(last)-1]
	digits := last[:len(last)-1]
	return 'a' <= letter && letter <= 'z' && strings.TrimLeft(digits, "0123456789") == ""
}

// reasonCode names a free-text reason: its leading error identifier
// ("CannotPullContainerError: ..." → CannotPullContainerError), else its
// first sentence, capped at 64 bytes.
func reasonCode(reason string) string {
	reason = strings.TrimSpace(reason)
	if len(reason) <= 64 && !strings.ContainsAny(reason, " \t\n") {
		return strings.ToValidUTF8(reason, "")
	}
	if id, _, ok := strings.Cut(reason, ":"); ok && id != "" && len(id) <= 64 && !strings.ContainsAny(id, " \t") {
		return strings.ToValidUTF8(id, "")
	}
	if i := strings.IndexByte(reason, '.'); i > 0 {
		reason = reason[:i]
	}
	if len(reason) > 64 {
		reason = reason[:64]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	return strings.ToValidUTF8(reason, "")
}

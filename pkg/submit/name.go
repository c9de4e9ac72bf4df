package submit

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxNameLen is Step Functions' limit on execution names.
const maxNameLen = 80

// hashLen is the number of hex digits of the hash suffix (64 bits).
const hashLen = 16

// ExecutionName returns the execution name of a request id:
//
//   - the request id itself when it is 1..80 characters of [0-9A-Za-z_-];
//   - otherwise its first 63 characters with every character outside that
//     set replaced by "_", then "-", then the first 16 hex digits of the
//     SHA-256 of the whole request id (at most 80 characters).
//
// The name is deterministic, always a valid execution name, and distinct
// for distinct request ids unless 64-bit hashes collide or someone picks a
// request id shaped exactly like another's hashed name.
func ExecutionName(requestID string) string {
	if requestID != "" && len(requestID) <= maxNameLen && safe(requestID) {
		return requestID
	}
	prefix := requestID
	if len(prefix) > maxNameLen-hashLen-1 {
		prefix = prefix[:maxNameLen-hashLen-1]
	}
	var b strings.Builder
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; nameByte(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(requestID))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:])[:hashLen])
	return b.String()
}

// ExecutionARN returns the ARN of the execution called name of the state
// machine stateMachineARN (arn:…:stateMachine:M → arn:…:execution:M:name).
func ExecutionARN(stateMachineARN, name string) string {
	return strings.Replace(stateMachineARN, ":stateMachine:", ":execution:", 1) + ":" + name
}

func safe(s string) bool {
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			return false
		}
	}
	return true
}

func nameByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || c == '-'
}

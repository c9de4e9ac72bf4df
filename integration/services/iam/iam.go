// Package iam is a minimal local IAM: CreateRole and GetRole over the
// Query protocol, so throttlectl doctor can check that the roles a stack
// passes to its tasks exist. Roles hold nothing but their name and trust
// policy; nothing here evaluates a policy.
package iam

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
)

const xmlns = "https://iam.amazonaws.com/doc/2010-05-08/"

// Role is a role as GetRole answers it.
type Role struct {
	Path                     string `xml:"Path"`
	RoleName                 string `xml:"RoleName"`
	RoleID                   string `xml:"RoleId"`
	Arn                      string `xml:"Arn"`
	CreateDate               string `xml:"CreateDate"`
	AssumeRolePolicyDocument string `xml:"AssumeRolePolicyDocument,omitempty"`
}

// Service is the local IAM of one account. Safe for concurrent use.
type Service struct {
	account string
	now     func() time.Time
	mu      sync.Mutex
	roles   map[string]Role
}

// New returns an IAM with no roles; now stamps CreateDate.
func New(account string, now func() time.Time) *Service {
	return &Service{account: account, now: now, roles: map[string]Role{}}
}

// CreateRole adds a role, or fails with EntityAlreadyExists.
func (s *Service) CreateRole(name, trust string) (Role, error) {
	if name == "" || len(name) > 64 {
		return Role{}, &apiError{400, "ValidationError", "RoleName must be 1 to 64 characters"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.roles[name]; ok {
		return Role{}, &apiError{409, "EntityAlreadyExists", fmt.Sprintf("Role with name %s already exists.", name)}
	}
	r := Role{Path: "/", RoleName: name, RoleID: "AROA" + strings.ToUpper(strings.ReplaceAll(awsjson.NewID(), "-", ""))[:17], Arn: fmt.Sprintf("arn:aws:iam::%s:role/%s", s.account, name),
		CreateDate: s.now().UTC().Format(time.RFC3339), AssumeRolePolicyDocument: url.QueryEscape(trust)}
	s.roles[name] = r
	return r, nil
}

// GetRole returns a role, or NoSuchEntity as IAM words it.
func (s *Service) GetRole(name string) (Role, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.roles[name]
	if !ok {
		return Role{}, &apiError{404, "NoSuchEntity", fmt.Sprintf("The role with name %s cannot be found.", name)}
	}
	return r, nil
}

type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// ServeHTTP serves CreateRole and GetRole (form-encoded Query requests).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, &apiError{400, "MalformedInput", err.Error()})
		return
	}
	action := r.Form.Get("Action")
	var role Role
	var err error
	switch action {
	case "GetRole":
		role, err = s.GetRole(r.Form.Get("RoleName"))
	case "CreateRole":
		role, err = s.CreateRole(r.Form.Get("RoleName"), r.Form.Get("AssumeRolePolicyDocument"))
	default:
		err = &apiError{400, "InvalidAction", fmt.Sprintf("awslocal does not implement IAM %s", action)}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	// <ActionResponse><ActionResult><Role>…: the elements are named by
	// their XMLName values.
	type result struct {
		XMLName xml.Name
		Role    Role `xml:"Role"`
	}
	doc := struct {
		XMLName  xml.Name
		Xmlns    string `xml:"xmlns,attr"`
		Result   result
		Metadata struct {
			RequestID string `xml:"RequestId"`
		} `xml:"ResponseMetadata"`
	}{XMLName: xml.Name{Local: action + "Response"}, Xmlns: xmlns, Result: result{xml.Name{Local: action + "Result"}, role}}
	doc.Metadata.RequestID = awsjson.NewID()
	b, _ := xml.Marshal(doc)
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*apiError)
	if !ok {
		e = &apiError{500, "ServiceFailure", err.Error()}
	}
	typ := "Sender"
	if e.status >= 500 {
		typ = "Receiver"
	}
	doc := struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Error   struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
		RequestID string `xml:"RequestId"`
	}{Xmlns: xmlns, RequestID: awsjson.NewID()}
	doc.Error.Type, doc.Error.Code, doc.Error.Message = typ, e.code, e.message
	b, _ := xml.Marshal(doc)
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

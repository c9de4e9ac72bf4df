package sim

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
)

const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// ec2Protocol writes EC2's Query protocol answers: an XML document named
// <Action>Response, and errors as <Response><Errors><Error>… with RequestID
// (no <Type>, unlike the other Query services).
type ec2Protocol struct{}

type ec2Head struct {
	Xmlns     string `xml:"xmlns,attr"`
	RequestID string `xml:"requestId"`
}

func (h *ec2Head) setHead(id string) { h.Xmlns, h.RequestID = ec2Namespace, id }

func (ec2Protocol) writeResult(w http.ResponseWriter, _ string, reqID string, out any) {
	if h, ok := out.(interface{ setHead(string) }); ok {
		h.setHead(reqID)
	}
	b, err := xml.Marshal(out)
	if err != nil {
		ec2Protocol{}.writeError(w, reqID, errorf(500, "InternalError", "marshal response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

type ec2ErrorDoc struct {
	XMLName xml.Name `xml:"Response"`
	Errors  struct {
		Error struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
	} `xml:"Errors"`
	RequestID string `xml:"RequestID"`
}

func (ec2Protocol) writeError(w http.ResponseWriter, reqID string, e *apiError) {
	var d ec2ErrorDoc
	d.Errors.Error.Code, d.Errors.Error.Message, d.RequestID = e.code, e.message, reqID
	b, _ := xml.Marshal(d)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(e.status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

func (ec2Protocol) serverError() *apiError {
	return errorf(500, "InternalError", "An internal error has occurred")
}

// ec2Throttle is EC2's throttle answer, listed with the server errors.
func ec2Throttle() *apiError { return errorf(503, "RequestLimitExceeded", "Request limit exceeded.") }

var ec2Ops = map[string]func(s *Sim, form url.Values) (any, *apiError){
	"RunInstances":           (*Sim).ec2RunInstances,
	"DescribeInstances":      (*Sim).ec2DescribeInstances,
	"TerminateInstances":     (*Sim).ec2TerminateInstances,
	"DescribeInstanceStatus": (*Sim).ec2DescribeInstanceStatus,
	"CreateTags":             (*Sim).ec2CreateTags,
}

// EC2Handler serves EC2's Query protocol.
func (s *Sim) EC2Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r)
		var form url.Values
		if err == nil {
			form, err = url.ParseQuery(string(body))
		}
		op := form.Get("Action")
		p := ec2Protocol{}
		h := ec2Ops[op]
		if h == nil || err != nil {
			s.serve(w, r, p, "ec2", op, func() (any, *apiError) {
				if err != nil {
					return nil, errorf(400, "InvalidParameterValue", "malformed request: %v", err)
				}
				return nil, errorf(400, "InvalidAction", "The action %s is not valid for this web service.", op)
			})
			return
		}
		s.serve(w, r, p, "ec2", op, func() (any, *apiError) { return h(s, form) })
	})
}

// indexed returns the values of a Query list: prefix.1, prefix.2, … up to
// the first gap.
func indexed(form url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[prefix+"."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// tagsOf returns the Tag.N.Key/Value pairs under prefix (e.g.
// "TagSpecification.1.Tag"), in order.
func tagsOf(form url.Values, prefix string) []ec2Tag {
	var out []ec2Tag
	for i := 1; ; i++ {
		p := prefix + "." + strconv.Itoa(i)
		k, ok := form[p+".Key"]
		if !ok {
			return out
		}
		out = append(out, ec2Tag{Key: k[0], Value: form.Get(p + ".Value")})
	}
}

package s3

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// Object is one stored object.
type Object struct {
	Body         []byte
	ETag         string // quoted MD5, as S3 sends it
	ContentType  string
	LastModified time.Time
}

// Service is the local S3. Safe for concurrent use.
type Service struct {
	clk     clock.Clock
	mu      sync.RWMutex
	buckets map[string]map[string]Object
	reqSeq  uint64
}

// New returns an S3 with no buckets, reading times from clk.
func New(clk clock.Clock) *Service {
	return &Service{clk: clk, buckets: map[string]map[string]Object{}}
}

// CreateBucket creates a bucket; an existing one is kept as it is.
func (s *Service) CreateBucket(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets[name] == nil {
		s.buckets[name] = map[string]Object{}
	}
}

// Put stores an object (as PutObject does) and returns its ETag.
func (s *Service) Put(bucket, key string, body []byte, contentType string) (string, error) {
	sum := md5.Sum(body)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	if contentType == "" {
		contentType = "binary/octet-stream"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucket]
	if b == nil {
		return "", errNoSuchBucket
	}
	b[key] = Object{Body: append([]byte(nil), body...), ETag: etag, ContentType: contentType, LastModified: s.clk.Now().UTC().Truncate(time.Second)}
	return etag, nil
}

// Get returns an object.
func (s *Service) Get(bucket, key string) (Object, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := s.buckets[bucket]
	if b == nil {
		return Object{}, errNoSuchBucket
	}
	o, ok := b[key]
	if !ok {
		return Object{}, errNoSuchKey
	}
	return o, nil
}

// Keys returns a bucket's keys in order.
func (s *Service) Keys(bucket string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]string, 0, len(s.buckets[bucket]))
	for k := range s.buckets[bucket] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type s3Error struct {
	status  int
	code    string
	message string
}

func (e *s3Error) Error() string { return e.code + ": " + e.message }

var (
	errNoSuchBucket = &s3Error{http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist"}
	errNoSuchKey    = &s3Error{http.StatusNotFound, "NoSuchKey", "The specified key does not exist."}
)

// ServeHTTP serves the S3 REST API.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bucket, key := s.address(r)
	w.Header().Set("x-amz-request-id", s.requestID())
	var err error
	switch {
	case bucket == "":
		err = &s3Error{http.StatusNotImplemented, "NotImplemented", "ListBuckets is not served"}
	case key == "" && r.Method == http.MethodPut:
		s.CreateBucket(bucket)
	case key == "" && r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
		err = s.listV2(w, r, bucket)
	case key != "" && r.Method == http.MethodPut:
		err = s.putObject(w, r, bucket, key)
	case key != "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		err = s.getObject(w, r, bucket, key)
	default:
		err = &s3Error{http.StatusNotImplemented, "NotImplemented", r.Method + " is not served here"}
	}
	if err != nil {
		writeError(w, r, err, bucket, key)
	}
}

func (s *Service) requestID() string {
	s.mu.Lock()
	s.reqSeq++
	n := s.reqSeq
	s.mu.Unlock()
	return fmt.Sprintf("%016X", n)
}

// address splits a request into bucket and key: virtual-hosted when the
// Host's first label names a bucket, else path-style.
func (s *Service) address(r *http.Request) (bucket, key string) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	if i := strings.IndexByte(host, '.'); i > 0 && net.ParseIP(host) == nil {
		s.mu.RLock()
		_, ok := s.buckets[host[:i]]
		s.mu.RUnlock()
		if ok {
			return host[:i], path
		}
	}
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}

func (s *Service) putObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	body, err := readBody(r)
	if err != nil {
		return &s3Error{http.StatusBadRequest, "IncompleteBody", err.Error()}
	}
	etag, err := s.Put(bucket, key, body, r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Service) getObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	o, err := s.Get(bucket, key)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("ETag", o.ETag)
	h.Set("Content-Type", o.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(o.Body)))
	h.Set("Last-Modified", o.LastModified.Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(o.Body)
	}
	return nil
}

// readBody returns the payload, decoding the aws-chunked encoding the SDK
// uses to send a trailing checksum.
func readBody(r *http.Request) ([]byte, error) {
	chunked := strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") ||
		strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-")
	if !chunked {
		return io.ReadAll(r.Body)
	}
	var out bytes.Buffer
	br := bufio.NewReader(r.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
		sizeHex, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("aws-chunked: bad chunk size %q", line)
		}
		if n == 0 {
			return out.Bytes(), nil // trailers follow; the checksum is not kept
		}
		if _, err := io.CopyN(&out, br, n); err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
		if _, err := br.ReadString('\n'); err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
	}
}

type errorDoc struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	BucketN   string   `xml:"BucketName,omitempty"`
	Key       string   `xml:"Key,omitempty"`
	RequestID string   `xml:"RequestId"`
}

func writeError(w http.ResponseWriter, r *http.Request, err error, bucket, key string) {
	var e *s3Error
	if !errors.As(err, &e) {
		e = &s3Error{http.StatusInternalServerError, "InternalError", err.Error()}
	}
	doc := errorDoc{Code: e.code, Message: e.message, RequestID: w.Header().Get("x-amz-request-id")}
	switch e.code {
	case "NoSuchBucket":
		doc.BucketN = bucket
	case "NoSuchKey":
		doc.Key = key
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.status)
	if r.Method == http.MethodHead {
		return // HEAD answers carry no body
	}
	b, _ := xml.Marshal(doc)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

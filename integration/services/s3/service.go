package s3

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc64"
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
	// Checksums are the x-amz-checksum-* values the upload sent (header
	// or aws-chunked trailer), returned when a GetObject asks for them.
	Checksums map[string]string
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

// putChecksums records an object's checksums.
func (s *Service) putChecksums(bucket, key string, sums map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.buckets[bucket][key]; ok && len(sums) > 0 {
		o.Checksums = sums
		s.buckets[bucket][key] = o
	}
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
	sums := checksums(r.Header)
	body, err := readBody(r, sums)
	if err != nil {
		return &s3Error{http.StatusBadRequest, "IncompleteBody", err.Error()}
	}
	etag, err := s.Put(bucket, key, body, r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	if len(sums) == 0 {
		sums["x-amz-checksum-crc64nvme"] = crc64NVME(body)
	}
	s.putChecksums(bucket, key, sums)
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
	if strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		for k, v := range o.Checksums {
			h.Set(k, v)
		}
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(o.Body)
	}
	return nil
}

var nvme = crc64.MakeTable(0x9A6C9329AC4BC9B5)

// crc64NVME is the full-object checksum S3 computes for an upload that
// sent none (Amazon S3 User Guide: "Checking object integrity in Amazon
// S3"), base64 of the big-endian CRC-64/NVME.
func crc64NVME(body []byte) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], crc64.Checksum(body, nvme))
	return base64.StdEncoding.EncodeToString(b[:])
}

// checksums returns the x-amz-checksum-* headers of an upload.
func checksums(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if k = strings.ToLower(k); strings.HasPrefix(k, "x-amz-checksum-") && k != "x-amz-checksum-mode" && k != "x-amz-checksum-type" {
			out[k] = v[0]
		}
	}
	return out
}

// readBody returns the payload, decoding the aws-chunked encoding the SDK
// uses to send a trailing checksum, which it adds to sums.
func readBody(r *http.Request, sums map[string]string) ([]byte, error) {
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
			readTrailers(br, sums)
			return out.Bytes(), nil
		}
		if _, err := io.CopyN(&out, br, n); err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
		if _, err := br.ReadString('\n'); err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
	}
}

// readTrailers adds the x-amz-checksum-* trailers of an aws-chunked body.
func readTrailers(br *bufio.Reader, sums map[string]string) {
	for {
		line, err := br.ReadString('\n')
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if k = strings.ToLower(strings.TrimSpace(k)); ok && strings.HasPrefix(k, "x-amz-checksum-") {
			sums[k] = strings.TrimSpace(v)
		}
		if err != nil || strings.TrimSpace(line) == "" {
			return
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

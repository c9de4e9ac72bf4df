package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/integration/services/s3"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// client returns the real SDK client against svc: path-style, or
// virtual-hosted with every host dialled to the test server.
func client(t *testing.T, svc *s3.Service, pathStyle bool) *awss3.Client {
	t.Helper()
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := net.SplitHostPort(addr)
	endpoint := srv.URL
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	if !pathStyle {
		endpoint = "http://s3.local.test:" + port
	}
	return awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: pathStyle,
		HTTPClient: hc, Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), Retryer: aws.NopRetryer{}})
}

// TestObjectsFidelity follows the Amazon S3 API Reference pages
// "PutObject" (ETag is the MD5 of the body), "GetObject" (body, ETag,
// Content-Type, Last-Modified; NoSuchKey and NoSuchBucket for what does
// not exist) and "HeadObject" (the same headers, a bodiless 404), in both
// addressing styles of the Amazon S3 User Guide: "Virtual hosting of
// buckets".
func TestObjectsFidelity(t *testing.T) {
	t.Parallel()
	for _, pathStyle := range []bool{true, false} {
		t.Run(fmt.Sprintf("path-style=%v", pathStyle), func(t *testing.T) {
			t.Parallel()
			svc := s3.New(clock.NewFake(t0))
			svc.CreateBucket("results")
			c := client(t, svc, pathStyle)
			ctx := context.Background()
			body := []byte(`{"index":0}` + "\n" + `{"index":1}` + "\n")
			sum := md5.Sum(body)
			want := `"` + hex.EncodeToString(sum[:]) + `"`
			put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("results"), Key: aws.String("jobs/a b/input.jsonl"),
				Body: bytes.NewReader(body), ContentType: aws.String("application/x-ndjson")})
			if err != nil || aws.ToString(put.ETag) != want {
				t.Fatalf("PutObject: %v %v, want ETag %s", err, put, want)
			}
			if got, err := svc.Get("results", "jobs/a b/input.jsonl"); err != nil || !bytes.Equal(got.Body, body) {
				t.Fatalf("stored %q %v", got.Body, err)
			}
			get, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("results"), Key: aws.String("jobs/a b/input.jsonl")})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(get.Body)
			if !bytes.Equal(got, body) || aws.ToString(get.ETag) != want || aws.ToString(get.ContentType) != "application/x-ndjson" ||
				get.LastModified == nil || !get.LastModified.Equal(t0) {
				t.Errorf("GetObject: %q %s %s %v", got, aws.ToString(get.ETag), aws.ToString(get.ContentType), get.LastModified)
			}
			sumGet, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("results"), Key: aws.String("jobs/a b/input.jsonl"),
				ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(sumGet.Body); err != nil || aws.ToString(sumGet.ChecksumCRC64NVME) == "" {
				t.Errorf("GetObject with ChecksumMode: %v, CRC64NVME %q (S3's own, validated by the SDK)", err, aws.ToString(sumGet.ChecksumCRC64NVME))
			}
			head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("results"), Key: aws.String("jobs/a b/input.jsonl")})
			if err != nil || aws.ToInt64(head.ContentLength) != int64(len(body)) || aws.ToString(head.ETag) != want {
				t.Errorf("HeadObject: %v %+v", err, head)
			}
			checkMissing(t, c, pathStyle)
		})
	}
}

func checkMissing(t *testing.T, c *awss3.Client, pathStyle bool) {
	t.Helper()
	ctx := context.Background()
	_, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("results"), Key: aws.String("nope")})
	var nsk *types.NoSuchKey
	if !errors.As(err, &nsk) {
		t.Errorf("GetObject of a missing key: %v, want NoSuchKey", err)
	}
	_, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("results"), Key: aws.String("nope")})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		t.Errorf("HeadObject of a missing key: %v, want NotFound", err)
	}
	if pathStyle { // a missing bucket is not addressable virtual-hosted
		_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("other"), Key: aws.String("k")})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "NoSuchBucket" {
			t.Errorf("GetObject in a missing bucket: %v, want NoSuchBucket", err)
		}
	}
}

// TestListObjectsV2 follows the Amazon S3 API Reference: "ListObjectsV2":
// keys in UTF-8 binary order under the prefix, pages of MaxKeys with a
// continuation token, KeyCount per page.
func TestListObjectsV2(t *testing.T) {
	t.Parallel()
	svc := s3.New(clock.NewFake(t0))
	svc.CreateBucket("results")
	for _, k := range []string{"out/2", "out/10", "in/x", "out/1", "out/3"} {
		if _, err := svc.Put("results", k, []byte(k), ""); err != nil {
			t.Fatal(err)
		}
	}
	c := client(t, svc, true)
	var keys []string
	pages := 0
	p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: aws.String("results"), Prefix: aws.String("out/"), MaxKeys: aws.Int32(3)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if int(aws.ToInt32(out.KeyCount)) != len(out.Contents) {
			t.Errorf("KeyCount %d for %d keys", aws.ToInt32(out.KeyCount), len(out.Contents))
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	if want := "out/1 out/10 out/2 out/3"; strings.Join(keys, " ") != want || pages != 2 {
		t.Errorf("got %v in %d pages, want %s in 2", keys, pages, want)
	}
}

// TestPutObjectChunked: a body sent aws-chunked (as the SDK streams a body
// with a trailing checksum; Amazon S3 API Reference: "Signature
// Calculations for the Authorization Header: Transferring Payload in
// Multiple Chunks") is stored decoded, the trailer dropped.
func TestPutObjectChunked(t *testing.T) {
	t.Parallel()
	svc := s3.New(clock.NewFake(t0))
	svc.CreateBucket("results")
	for name, tc := range map[string]struct {
		wire, want string
		status     int
	}{
		"two chunks": {"5;chunk-signature=ab\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", "hello world", 200},
		"empty":      {"0\r\n\r\n", "", 200},
		"truncated":  {"9\r\nhello", "", 400},
		"bad size":   {"zz\r\nhello\r\n", "", 400},
	} {
		req := httptest.NewRequest(http.MethodPut, "/results/"+strings.ReplaceAll(name, " ", "-"), strings.NewReader(tc.wire))
		req.Header.Set("Content-Encoding", "aws-chunked")
		req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d: %s", name, rec.Code, tc.status, rec.Body)
			continue
		}
		if tc.status != 200 {
			continue
		}
		got, err := svc.Get("results", strings.ReplaceAll(name, " ", "-"))
		if err != nil || string(got.Body) != tc.want {
			t.Errorf("%s: stored %q (%v), want %q", name, got.Body, err, tc.want)
		}
		if name == "two chunks" && got.Checksums["x-amz-checksum-crc32"] != "AAAAAA==" {
			t.Errorf("trailer checksum not kept: %v", got.Checksums)
		}
	}
}

package s3

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
)

type listEntry struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int    `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
}

type listResult struct {
	XMLName               xml.Name    `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string      `xml:"Name"`
	Prefix                string      `xml:"Prefix"`
	KeyCount              int         `xml:"KeyCount"`
	MaxKeys               int         `xml:"MaxKeys"`
	IsTruncated           bool        `xml:"IsTruncated"`
	ContinuationToken     string      `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string      `xml:"NextContinuationToken,omitempty"`
	StartAfter            string      `xml:"StartAfter,omitempty"`
	Contents              []listEntry `xml:"Contents"`
}

// listV2 answers ListObjectsV2: keys after the continuation token (or
// start-after) with the prefix, in order, at most max-keys.
func (s *Service) listV2(w http.ResponseWriter, r *http.Request, bucket string) error {
	q := r.URL.Query()
	res := listResult{Name: bucket, Prefix: q.Get("prefix"), MaxKeys: 1000,
		ContinuationToken: q.Get("continuation-token"), StartAfter: q.Get("start-after")}
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return &s3Error{http.StatusBadRequest, "InvalidArgument", "max-keys must be a non-negative integer"}
		}
		res.MaxKeys = min(n, 1000)
	}
	after := res.StartAfter
	if res.ContinuationToken != "" {
		b, err := base64.StdEncoding.DecodeString(res.ContinuationToken)
		if err != nil {
			return &s3Error{http.StatusBadRequest, "InvalidArgument", "The continuation token provided is incorrect"}
		}
		after = string(b)
	}
	s.mu.RLock()
	objs, ok := s.buckets[bucket]
	s.mu.RUnlock()
	if !ok {
		return errNoSuchBucket
	}
	for _, k := range s.Keys(bucket) {
		if k <= after || !strings.HasPrefix(k, res.Prefix) {
			continue
		}
		if len(res.Contents) == res.MaxKeys {
			res.IsTruncated = true
			break
		}
		s.mu.RLock()
		o := objs[k]
		s.mu.RUnlock()
		res.Contents = append(res.Contents, listEntry{Key: k, LastModified: o.LastModified.Format("2006-01-02T15:04:05.000Z"),
			ETag: o.ETag, Size: len(o.Body), StorageClass: "STANDARD"})
	}
	res.KeyCount = len(res.Contents)
	if res.IsTruncated && res.KeyCount > 0 {
		res.NextContinuationToken = base64.StdEncoding.EncodeToString([]byte(res.Contents[res.KeyCount-1].Key))
	}
	b, err := xml.Marshal(res)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write(append([]byte(xml.Header), b...))
	return nil
}

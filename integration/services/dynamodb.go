package services

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
)

type awsHandler = awslambda.Handler

// createTable creates the product's table; an existing one (dynalite on
// disk, restarted) is kept.
func createTable(ctx context.Context, d *testenv.Dynalite, name string) error {
	err := testenv.CreateTable(ctx, d.Client(), name)
	var inUse *ddbtypes.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	return err
}

// dynamoProxy forwards DynamoDB requests to dynalite.
//
// dynalite ignores ReturnValuesOnConditionCheckFailure; with allOld the
// proxy emulates ALL_OLD: a PutItem, UpdateItem or DeleteItem that asked
// for it and failed its condition gets the item in the error's Item
// field, read with a consistent GetItem right after the failure. DynamoDB
// returns the item the condition was evaluated against; the read here is
// not atomic with the write, so a write landing in between shows through
// (a newer item than the one that failed). TransactWriteItems is
// forwarded as it is: the product does not use it.
type dynamoProxy struct {
	endpoint string
	allOld   bool
	log      *slog.Logger
	proxy    *httputil.ReverseProxy
	client   *http.Client

	mu   sync.Mutex
	keys map[string][]string // table → key attribute names (PutItem's key)

	// beforeRead runs between a failed write and the read of its item
	// (tests put a concurrent writer there).
	beforeRead func()
}

// newDynamoProxy returns the proxy to the dynalite at endpoint. A client
// that went away (its context cancelled) is not an error worth a line;
// anything else answers 502 with a short log (the default handler logs
// every one). The proxy's other complaints go to log too, never to the
// standard logger.
func newDynamoProxy(endpoint string, log *slog.Logger, allOld bool) *dynamoProxy {
	target, _ := url.Parse(endpoint)
	d := &dynamoProxy{endpoint: endpoint, allOld: allOld, log: log, client: &http.Client{}, keys: map[string][]string{}}
	p := httputil.NewSingleHostReverseProxy(target)
	p.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(r.Context().Err(), context.Canceled) {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		log.Warn("dynamodb proxy", "target", endpoint, "err", err)
		w.WriteHeader(http.StatusBadGateway)
	}
	p.ModifyResponse = d.addItem
	d.proxy = p
	return d
}

// conditionalWrite is what the proxy needs of a write that asked ALL_OLD.
type conditionalWrite struct {
	op                                  string
	auth, date                          string
	TableName                           string                     `json:"TableName"`
	Key                                 map[string]json.RawMessage `json:"Key"`
	Item                                map[string]json.RawMessage `json:"Item"`
	ReturnValuesOnConditionCheckFailure string                     `json:"ReturnValuesOnConditionCheckFailure"`
}

type allOldKey struct{}

// upstreamTimeout bounds a forwarded request whose client went away.
const upstreamTimeout = time.Minute

func (d *dynamoProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// dynalite exits on a request aborted before its body is complete (its
	// handler throws the request's error): the body is read whole before
	// anything is forwarded, and the forwarded request does not end with a
	// client that goes away (a function that timed out mid-call).
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), upstreamTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	if d.allOld && (op == "PutItem" || op == "UpdateItem" || op == "DeleteItem") {
		in := &conditionalWrite{op: op, auth: r.Header.Get("Authorization"), date: r.Header.Get("X-Amz-Date")}
		if json.Unmarshal(body, in) == nil && in.ReturnValuesOnConditionCheckFailure == "ALL_OLD" {
			// The error body is rewritten: it must come uncompressed.
			r.Header.Del("Accept-Encoding")
			r = r.WithContext(context.WithValue(r.Context(), allOldKey{}, in))
		}
	}
	d.proxy.ServeHTTP(w, r)
}

// addItem adds Item to the ConditionalCheckFailedException of a write
// that asked ALL_OLD, with the CRC32 the client checks. When the read
// fails the error goes without Item, as it does for a missing item.
func (d *dynamoProxy) addItem(resp *http.Response) error {
	in, ok := resp.Request.Context().Value(allOldKey{}).(*conditionalWrite)
	if !ok || resp.StatusCode != http.StatusBadRequest {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	out := body
	defer func() {
		resp.Body = io.NopCloser(bytes.NewReader(out))
		resp.ContentLength = int64(len(out))
		resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
		resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(out)), 10))
	}()
	var e map[string]json.RawMessage
	var typ string
	if json.Unmarshal(body, &e) != nil || json.Unmarshal(e["__type"], &typ) != nil ||
		!strings.HasSuffix(typ, "#ConditionalCheckFailedException") || e["Item"] != nil {
		return nil
	}
	if d.beforeRead != nil {
		d.beforeRead()
	}
	item, err := d.current(resp.Request.Context(), in)
	if err != nil {
		d.log.Warn("dynamodb proxy: ALL_OLD read", "table", in.TableName, "err", err)
		return nil
	}
	if len(item) > 0 {
		e["Item"] = item
		out, _ = json.Marshal(e)
	}
	return nil
}

// current reads the item a failed write addressed (null if none).
func (d *dynamoProxy) current(ctx context.Context, in *conditionalWrite) (json.RawMessage, error) {
	key := in.Key
	if in.op == "PutItem" {
		names, err := d.keyNames(ctx, in)
		if err != nil {
			return nil, err
		}
		key = map[string]json.RawMessage{}
		for _, n := range names {
			key[n] = in.Item[n]
		}
	}
	var out struct {
		Item json.RawMessage `json:"Item"`
	}
	err := d.call(ctx, in, "GetItem", map[string]any{"TableName": in.TableName, "Key": key, "ConsistentRead": true}, &out)
	return out.Item, err
}

// keyNames returns the key attributes of in's table (DescribeTable, once).
func (d *dynamoProxy) keyNames(ctx context.Context, in *conditionalWrite) ([]string, error) {
	d.mu.Lock()
	names, ok := d.keys[in.TableName]
	d.mu.Unlock()
	if ok {
		return names, nil
	}
	var out struct {
		Table struct {
			KeySchema []struct {
				AttributeName string `json:"AttributeName"`
			} `json:"KeySchema"`
		} `json:"Table"`
	}
	if err := d.call(ctx, in, "DescribeTable", map[string]string{"TableName": in.TableName}, &out); err != nil {
		return nil, err
	}
	for _, k := range out.Table.KeySchema {
		names = append(names, k.AttributeName)
	}
	d.mu.Lock()
	d.keys[in.TableName] = names
	d.mu.Unlock()
	return names, nil
}

// call makes one DynamoDB JSON request to dynalite with the original
// request's credentials (dynalite checks they are present, not valid).
func (d *dynamoProxy) call(ctx context.Context, in *conditionalWrite, op string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint+"/", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Authorization", in.auth)
	req.Header.Set("X-Amz-Date", in.date)
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", op, resp.StatusCode, rb)
	}
	return json.Unmarshal(rb, out)
}

package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// Items at launch. An items request has one task per chunk (chunk index =
// unit index = array index), and each call's overrides are ecs.overrides
// merged with that task's item and the TH_* variables. Inline items are in
// the stored request (cached per sandbox with it); items of ecs.itemsFrom
// are read from the table (item#<i>, written by plan before any chunk
// runs) and cached per sandbox too: an index's item never changes, so a
// replay builds the same parameters as the first send.

// chunkRunTaskInput builds the RunTask call of an attempt of spec's chunk:
// runTaskInput's, with the chunk's item merged into the overrides for an
// items request. A failure to read the item is a TransientError (nothing
// was sent: the attempt is made again with its token).
func chunkRunTaskInput(ctx context.Context, st launchstore.Store, sr launch.StoredRequest, spec launch.ChunkSpec, rec launch.AttemptRecord) (*ecs.RunTaskInput, error) {
	s := sr.Request.ECS
	if !s.HasItems() {
		return runTaskInput(s, sr.Request.RequestID, rec), nil
	}
	o, err := chunkOverrides(ctx, st, sr, spec)
	if err != nil {
		return nil, err
	}
	merged := *s
	merged.Overrides = &o
	return runTaskInput(&merged, sr.Request.RequestID, rec), nil
}

// runChunkTask is chunkRunTaskInput and the call (the relaunch path's one
// RunTask). A failure to read the item comes back as a TransientError
// before any call.
func runChunkTask(ctx context.Context, c ECSAPI, st launchstore.Store, sr launch.StoredRequest, spec launch.ChunkSpec, rec launch.AttemptRecord) (result, error) {
	in, err := chunkRunTaskInput(ctx, st, sr, spec, rec)
	if err != nil {
		return result{}, err
	}
	return callRunTask(ctx, c, in)
}

// chunkOverrides returns the overrides of the chunk's task.
func chunkOverrides(ctx context.Context, st launchstore.Store, sr launch.StoredRequest, spec launch.ChunkSpec) (launch.TaskOverride, error) {
	r := sr.Request
	if spec.Kind != launch.KindECS || spec.Size != 1 {
		return launch.TaskOverride{}, permanent("runtask", "InvalidInput", fmt.Errorf("items: chunk %d of request %q is not one ECS task", spec.Index, r.RequestID))
	}
	i := r.UnitIndex(spec, 0)
	if r.ECS.Items != nil {
		o, err := r.ItemOverrides(i)
		if err != nil {
			return launch.TaskOverride{}, permanent("runtask", "InvalidItem", err)
		}
		return o, nil
	}
	item, err := itemsOf(st).item(ctx, st, r.RequestID, i)
	if err != nil {
		return launch.TaskOverride{}, err
	}
	o, err := r.ItemOverridesWith(i, item)
	if err != nil {
		return launch.TaskOverride{}, permanent("runtask", "InvalidItem", err)
	}
	return o, nil
}

// itemCache holds the items a sandbox has read, by request and index.
type itemCache struct {
	mu    sync.Mutex
	items map[itemKey]launch.TaskOverride
}

type itemKey struct {
	requestID string
	index     int
}

// maxCachedItems bounds a sandbox's cache; it starts over when full.
const maxCachedItems = 4096

// itemCaches: one cache per store value (a Lambda sandbox has one), so
// handlers built on different stores (tests, the local stack's pool) never
// share items; at most maxItemCaches, then they start over.
var (
	itemCachesMu sync.Mutex
	itemCaches   = map[launchstore.Store]*itemCache{}
)

const maxItemCaches = 64

// itemsOf returns st's cache; a store of a type that cannot key a map gets
// a fresh cache each time (no caching).
func itemsOf(st launchstore.Store) *itemCache {
	if st == nil || !reflect.TypeOf(st).Comparable() {
		return &itemCache{}
	}
	itemCachesMu.Lock()
	defer itemCachesMu.Unlock()
	c := itemCaches[st]
	if c == nil {
		if len(itemCaches) >= maxItemCaches {
			clear(itemCaches)
		}
		c = &itemCache{}
		itemCaches[st] = c
	}
	return c
}

func (c *itemCache) item(ctx context.Context, st launchstore.Store, requestID string, i int) (launch.TaskOverride, error) {
	k := itemKey{requestID, i}
	c.mu.Lock()
	it, ok := c.items[k]
	c.mu.Unlock()
	if ok {
		return it, nil
	}
	raw, err := st.Item(ctx, requestID, i)
	if errors.Is(err, launchstore.ErrNotFound) {
		// Plan writes every item before it answers: a missing one is a
		// plan retried after a failed write, or a lagging read. Retried.
		return launch.TaskOverride{}, &failure.TransientError{Detail: failure.Detail{Code: "ItemNotFound", Op: "runtask",
			RetryAfter: time.Second, Err: fmt.Errorf("item %d of request %q not stored (yet)", i, requestID)}}
	} else if err != nil {
		return launch.TaskOverride{}, transientErr("runtask", fmt.Errorf("item %d of request %q: %w", i, requestID, err))
	}
	if err := json.Unmarshal(raw, &it); err != nil {
		return launch.TaskOverride{}, permanent("runtask", "InvalidItem", fmt.Errorf("item %d of request %q: %w", i, requestID, err))
	}
	c.mu.Lock()
	if c.items == nil || len(c.items) >= maxCachedItems {
		c.items = map[itemKey]launch.TaskOverride{}
	}
	c.items[k] = it
	c.mu.Unlock()
	return it, nil
}

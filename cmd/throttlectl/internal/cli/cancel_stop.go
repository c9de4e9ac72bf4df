package cli

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// terminateBatch is how many instances one TerminateInstances call ends.
const terminateBatch = 100

// launchedWork is what a request launched and still counts: task ARNs
// (with their cluster) and instance IDs.
type launchedWork struct {
	cluster   string
	tasks     []string
	instances []string
}

// launched lists the request's launched tasks and instances from the
// table (tasks that failed to start excluded).
func (p *product) launched(ctx context.Context, id string) (launchedWork, error) {
	store := p.store()
	sr, err := store.Request(ctx, id)
	if err != nil {
		return launchedWork{}, fmt.Errorf("cancel %s: %w", id, err)
	}
	chunks, _, err := store.Chunks(ctx, id)
	if err != nil {
		return launchedWork{}, fmt.Errorf("cancel %s: %w", id, err)
	}
	var w launchedWork
	if sr.Request.ECS != nil {
		w.cluster = sr.Request.ECS.Cluster
	}
	for _, c := range chunks {
		spec, err := sr.Request.Chunk(c.Index)
		if err != nil {
			continue
		}
		for _, x := range c.IDs {
			switch {
			case slices.Contains(c.Stopped, x):
			case spec.Kind == launch.KindEC2:
				w.instances = append(w.instances, x)
			default:
				w.tasks = append(w.tasks, x)
			}
		}
	}
	return w, nil
}

// stopLaunched stops the request's tasks and terminates its instances,
// each call paced by the fleet's limiter in the bucket it shares with
// launching (limiter.BucketOf), after asking on stdin unless yes. It
// returns how many were stopped or terminated.
func (p *product) stopLaunched(ctx context.Context, app *App, id string, yes bool) (int, error) {
	w, err := p.launched(ctx, id)
	if err != nil {
		return 0, err
	}
	total := len(w.tasks) + len(w.instances)
	if total == 0 {
		return 0, nil
	}
	if !yes {
		if err := confirm(app, fmt.Sprintf("stop %d task(s) and terminate %d instance(s) of request %s? [y/N] ", len(w.tasks), len(w.instances), id)); err != nil {
			return 0, err
		}
	}
	lim, err := p.limiter(func(o *limiter.Options) { o.Clock = app.Clock })
	if err != nil {
		return 0, fmt.Errorf("cancel %s: limiter: %w", id, err)
	}
	pr := &progress{app: app, total: total, every: 2 * time.Second}
	n, err := p.stopTasks(ctx, pacer{lim, app.Clock}, w, pr)
	if err != nil {
		return n, fmt.Errorf("cancel %s: --stop-launched: %w (%d of %d stopped)", id, err, n, total)
	}
	m, err := p.terminate(ctx, pacer{lim, app.Clock}, w.instances, pr)
	if err != nil {
		return n + m, fmt.Errorf("cancel %s: --stop-launched: %w (%d of %d stopped)", id, err, n+m, total)
	}
	pr.done()
	return n + m, nil
}

// confirm asks question on stderr and reads the answer from stdin.
func confirm(app *App, question string) error {
	fmt.Fprint(app.Stderr, question)
	line, _ := bufio.NewReader(app.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("--stop-launched: not confirmed (answer y, or pass --yes); the execution is cancelled, nothing launched was stopped")
}

// pacer takes each call's slot from the fleet's limiter and waits for it.
type pacer struct {
	lim *limiter.Distributed
	clk clock.Clock
}

func (p pacer) pace(ctx context.Context, service string, takes []limiter.Take) error {
	slot, err := p.lim.Reserve(ctx, service, takes)
	if err != nil {
		return fmt.Errorf("limiter: %w", err)
	}
	if d := slot.At.Sub(p.clk.Now()); d > 0 {
		return p.clk.Sleep(ctx, d)
	}
	return nil
}

func (p *product) stopTasks(ctx context.Context, pc pacer, w launchedWork, pr *progress) (int, error) {
	c := ecs.NewFromConfig(p.deps.AWS)
	takes := []limiter.Take{{Bucket: limiter.BucketOf("ecs:StopTask"), N: 1}}
	for i, arn := range w.tasks {
		if err := pc.pace(ctx, handler.ServiceECS, takes); err != nil {
			return i, err
		}
		if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(w.cluster), Task: aws.String(arn),
			Reason: aws.String("throttlectl cancel --stop-launched")}); err != nil {
			return i, fmt.Errorf("StopTask %s: %w", arn, err)
		}
		pr.add(1)
	}
	return len(w.tasks), nil
}

func (p *product) terminate(ctx context.Context, pc pacer, ids []string, pr *progress) (int, error) {
	c := ec2.NewFromConfig(p.deps.AWS)
	n := 0
	for batch := range slices.Chunk(ids, terminateBatch) {
		takes := []limiter.Take{{Bucket: limiter.BucketOf("ec2:TerminateInstances"), N: 1},
			{Bucket: limiter.EC2TerminatedInstance, N: float64(len(batch))}}
		if err := pc.pace(ctx, handler.ServiceEC2, takes); err != nil {
			return n, err
		}
		if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: batch}); err != nil {
			return n, fmt.Errorf("TerminateInstances: %w", err)
		}
		n += len(batch)
		pr.add(len(batch))
	}
	return n, nil
}

// progress reports long work on stderr, at most every `every`.
type progress struct {
	app        *App
	total, n   int
	every      time.Duration
	last       time.Time
	everShowed bool
}

func (p *progress) add(k int) {
	p.n += k
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last, p.everShowed = now, true
		fmt.Fprintf(p.app.Stderr, "stopping launched work: %d of %d\n", p.n, p.total)
	}
}

func (p *progress) done() {
	if p.everShowed {
		fmt.Fprintf(p.app.Stderr, "stopped launched work: %d of %d\n", p.n, p.total)
	}
}

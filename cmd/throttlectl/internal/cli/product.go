package cli

import (
	"context"
	"flag"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/handler/wire"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/lambdafn"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// names are the deployed product's resources. Flags win over the TH_*
// variables (pkg/config), which the CDK stack's outputs carry.
type names struct {
	machine, bus, table string
	// limiterTable holds the limiter's buckets: TH_LIMITER_TABLE_NAME
	// (stack output LimiterTableName), else table.
	limiterTable string
}

func (n *names) register(fs *flag.FlagSet) {
	fs.StringVar(&n.machine, "state-machine-arn", "", "launch state machine ARN (default "+config.EnvStateMachineARN+"; stack output StateMachineArn)")
	fs.StringVar(&n.bus, "event-bus", "", "the product's event bus (default "+config.EnvEventBus+"; stack output EventBusName)")
	fs.StringVar(&n.table, "table", "", "the product's DynamoDB table (default "+config.EnvTable+"; stack output TableName)")
	fs.StringVar(&n.limiterTable, "limiter-table", "", "the limiter's DynamoDB table (default "+config.EnvLimiterTable+", else the product's table; stack output LimiterTableName); its buckets are keyed by "+config.EnvAccountScope+" (stack output AccountScope)")
}

// product is what a command needs to reach the deployed (or local)
// product: the resolved names and the clients.
type product struct {
	deps lambdafn.Deps
	names
}

// what says which names a command needs.
const (
	needMachine = 1 << iota
	needBus
	needTable
)

// product resolves the names (flags over environment) and checks that the
// ones the command needs are set, naming the variable, the flag and the
// stack output when one is missing.
func (a *App) product(ctx context.Context, n names, need int) (*product, error) {
	d, err := a.Deps(ctx)
	if err != nil {
		return nil, err
	}
	if n.limiterTable != "" && !config.ValidTableName(n.limiterTable) {
		return nil, fmt.Errorf("--limiter-table: must be a DynamoDB table name (3-255 of a-z, A-Z, 0-9, _ . -), got %q", n.limiterTable)
	}
	p := &product{deps: d, names: n}
	if p.machine == "" {
		p.machine = d.Config.StateMachineARN
	}
	if p.bus == "" {
		p.bus = d.Config.EventBus
	}
	if p.table == "" {
		p.table = d.Config.Table
	}
	p.limiterTable = limiterTableOf(n.limiterTable, d.Config, p.table)
	missing := func(what, env, flag, output string) error {
		return fmt.Errorf("%s unknown: set %s or pass --%s (the deployed stack's output %s; locally, the export lines of go run ./integration/cmd/awslocal)", what, env, flag, output)
	}
	switch {
	case need&needMachine != 0 && p.machine == "":
		return nil, missing("launch state machine", config.EnvStateMachineARN, "state-machine-arn", "StateMachineArn")
	case need&needBus != 0 && p.bus == "":
		return nil, missing("product event bus", config.EnvEventBus, "event-bus", "EventBusName")
	case need&needTable != 0 && p.table == "":
		return nil, missing("product table", config.EnvTable, "table", "TableName")
	}
	return p, nil
}

// limiterTableOf is the limiter's table: the flag's, else
// TH_LIMITER_TABLE_NAME when it names a table of its own, else the
// product table.
func limiterTableOf(flag string, cfg config.Config, table string) string {
	switch {
	case flag != "":
		return flag
	case cfg.LimiterTable != cfg.Table:
		return cfg.LimiterTable
	}
	return table
}

func (p *product) sfn() *sfn.Client            { return sfn.NewFromConfig(p.deps.AWS) }
func (p *product) events() *eventbridge.Client { return eventbridge.NewFromConfig(p.deps.AWS) }
func (p *product) store() launchstore.Store {
	return launchstore.NewDynamoDB(dynamodb.NewFromConfig(p.deps.AWS), p.table)
}

// limiter is the fleet's limiter as the functions build it (same table,
// limits and account scope), for reading its state.
func (p *product) limiter(optFns ...func(*limiter.Options)) (*limiter.Distributed, error) {
	return wire.NewLimiter(p.limiterStore(), p.deps.Config, optFns...)
}

// limiterStore is the limiter's store on the resolved limiter table.
func (p *product) limiterStore() *limiter.DynamoStore {
	cfg := p.deps.Config
	cfg.LimiterTable = p.limiterTable
	return wire.LimiterStore(dynamodb.NewFromConfig(p.deps.AWS), cfg)
}

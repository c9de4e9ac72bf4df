package cli

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// Stack outputs of the limiter (infra/cdk/stack's OutputLimiterTableName
// and OutputAccountScope).
const (
	outputLimiterTable = "LimiterTableName"
	outputAccountScope = "AccountScope"
)

// limiterFromOutputs takes the limiter's table (unless a flag named it)
// and, when TH_ACCOUNT_SCOPE is unset, its account scope from the stack's
// outputs: the capacity checks then read the limits of the deployed
// scope, per-account overrides included.
func (d *doctor) limiterFromOutputs(outs map[string]string) {
	if d.t.limiterTable == "" {
		d.t.limiterTable = outs[outputLimiterTable]
	}
	if scope := outs[outputAccountScope]; scope != "" && d.cfg.AccountScopeDefault {
		d.cfg.AccountScope, d.cfg.AccountScopeDefault = scope, false
	}
}

// limiterFromEnv fills the limiter's table when neither a flag nor the
// stack named it (limiterTableOf).
func (d *doctor) limiterFromEnv() {
	d.t.limiterTable = limiterTableOf(d.t.limiterTable, d.cfg, d.t.table)
}

// checkLimiterTable checks a shared limiter table (limiterTableName)
// exists, is active and has the product's key schema, which the limiter's
// items need; a limiter in the product table needs nothing more.
func (d *doctor) checkLimiterTable(ctx context.Context) Check {
	const name = "limiter table"
	scope := "; buckets keyed by " + d.cfg.AccountScope
	if d.t.limiterTable == d.t.table {
		return Check{Name: name, Status: statusPass, Detail: "the product table" + scope}
	}
	r := resource{name, "limiter table", config.EnvLimiterTable, "limiter-table", d.t.limiterTable}
	out, c := describe(r, "dynamodb:DescribeTable", func() (*dynamodb.DescribeTableOutput, error) {
		return d.c.dynamo.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.t.limiterTable)})
	})
	if c != nil {
		c.Fix = fmt.Sprintf("create %s in this account and Region (string partition key %s, string sort key %s, TTL attribute %s), or deploy without limiterTableName",
			d.t.limiterTable, config.TablePK, config.TableSK, config.TableTTL)
		return *c
	}
	if st := out.Table.TableStatus; st != ddbtypes.TableStatusActive && st != ddbtypes.TableStatusUpdating {
		return Check{Name: name, Status: statusFail, Detail: fmt.Sprintf("%s is %s", d.t.limiterTable, st), Fix: "wait until it is ACTIVE"}
	}
	if !productKeys(out.Table.KeySchema) {
		return Check{Name: name, Status: statusFail, Detail: fmt.Sprintf("%s does not have the key schema %s (HASH), %s (RANGE)", d.t.limiterTable, config.TablePK, config.TableSK),
			Fix: "name a table with the product's key schema as limiterTableName (string pk and sk, TTL expiresAt)"}
	}
	return Check{Name: name, Status: statusPass, Detail: fmt.Sprintf("%s %s, shared%s", d.t.limiterTable, out.Table.TableStatus, scope)}
}

// productKeys reports whether keys are the product's: pk HASH, sk RANGE.
func productKeys(keys []ddbtypes.KeySchemaElement) bool {
	got := map[string]ddbtypes.KeyType{}
	for _, k := range keys {
		got[aws.ToString(k.AttributeName)] = k.KeyType
	}
	return len(got) == 2 && got[config.TablePK] == ddbtypes.KeyTypeHash && got[config.TableSK] == ddbtypes.KeyTypeRange
}

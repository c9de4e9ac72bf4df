package stack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// limiterFunctions build the fleet-wide limiter (pkg/handler/wire): runtask
// and retry launch through it, summary's tracker describes tasks through
// it.
var limiterFunctions = []string{"runtask", "retry", "summary"}

// limiterActions are the calls pkg/limiter's DynamoStore makes on its
// table: a strongly consistent GetItem to read a bucket item and one
// conditional UpdateItem per acquisition, signal or release.
var limiterActions = []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}

// chunksMap is the launch machine's Map state that maxConcurrency sets.
const chunksMap = "Chunks"

// addLimiterTable imports the existing table named limiterTableName (the
// limiter's bucket items, shared by the stacks naming it) and grants the
// limiter functions exactly the limiter's calls on it. Without the
// setting the limiter lives in the stack's own table, which those
// functions can already read and write.
func (p *parts) addLimiterTable() {
	name := p.settings.LimiterTableName
	if name == "" {
		p.limiterTable = p.table
		return
	}
	p.limiterTable = awsdynamodb.Table_FromTableName(p.scope, jsii.String("LimiterTable"), jsii.String(name))
	for _, fn := range limiterFunctions {
		p.functions[fn].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("LimiterBuckets"),
			Actions:   jsii.Strings(limiterActions...),
			Resources: &[]*string{p.limiterTable.TableArn()},
		}))
	}
}

// accountScope is TH_ACCOUNT_SCOPE: the accountScope setting, or the
// stack's own "<account>/<region>" (tokens CloudFormation resolves at
// deploy time, so an environment-agnostic stack needs no STS call either).
func (p *parts) accountScope() *string {
	if p.settings.AccountScope != "" {
		return jsii.String(p.settings.AccountScope)
	}
	return awscdk.Fn_Join(jsii.String("/"), &[]*string{p.stack.Account(), p.stack.Region()})
}

// withMapConcurrency returns the definition at path with the
// MaxConcurrency of its top-level Map state Chunks set to n.
func withMapConcurrency(path string, n int) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("maxConcurrency: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keep every other number as written
	var def map[string]any
	if err := dec.Decode(&def); err != nil {
		return "", fmt.Errorf("maxConcurrency: %s: %v", path, err)
	}
	states, _ := def["States"].(map[string]any)
	m, _ := states[chunksMap].(map[string]any)
	if m == nil || m["Type"] != "Map" {
		return "", fmt.Errorf("maxConcurrency: %s: no Map state %s to set it on", path, chunksMap)
	}
	m["MaxConcurrency"] = n
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // the definition's strings as written
	enc.SetIndent("", "  ")
	if err := enc.Encode(def); err != nil {
		return "", fmt.Errorf("maxConcurrency: %v", err)
	}
	return out.String(), nil
}

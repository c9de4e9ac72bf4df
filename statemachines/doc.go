// Package statemachines owns the Amazon States Language definitions of the
// product (the *.asl.json files beside this file) and the EventBridge rule
// files under rules/. They are the one source of truth for both the CDK
// stack (DefinitionBody_FromFile + DefinitionSubstitutions) and the local
// Step Functions runner, which loads them through Load with the same
// ${…} substitutions.
//
// The package only serves data: it embeds the files, substitutes
// placeholders and decodes the rule files. See README.md for the shape of
// the launch machine and the reasons behind it.
package statemachines

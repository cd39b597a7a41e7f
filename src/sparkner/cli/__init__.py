"""The command lines: `job` (sparkner-job), `eval` (sparkner-eval) and `serve` (sparkner serve), on
one shared layer (`common`: flags from the option declarations, secrets, one-line driver errors,
logging, the local session); `main` is the `sparkner COMMAND` dispatcher. Nothing outside this
package imports it (a test walks the imports).
"""

"""The options as pure data: every option declared once (`settings`), the runtime table (`runtimes`),
and the README's option tables generated from them (`readme`). Nothing here touches the disk or
the network; resolving a model's source happens in `sparkner.sources.settings`.
"""

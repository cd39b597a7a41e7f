from sparkner.jobs.cli import main

raise SystemExit(main())

from sparkner.cli.job import main

raise SystemExit(main())

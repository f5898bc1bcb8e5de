from markupeval.cli import main

raise SystemExit(main())

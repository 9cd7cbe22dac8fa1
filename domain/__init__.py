"""The registry's domain rules, free of HTTP and MongoDB: what a valid plate, e-mail or text is and
the Spanish messages that say so (``rules``), the errors the domain raises (``errors``), and the
clock every "now" is read from (``clock``). Forms, the API, repositories, scripts and the seeder
all use these."""

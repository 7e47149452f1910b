# qbtrigger's perl bridge: the qb:: functions of perl callbacks (SPEC 7.3).
#
# perl.py runs `perl -` with this prelude, then `package main;`, a `#line 1 "callback"` directive
# and the callback's code on stdin, so perl's messages give the code's own line numbers. Before the
# prelude it sets @qb::FUNCTIONS (qbapi.QB_FUNCTIONS), so the two APIs cannot drift apart.
#
# Each qb:: call writes one JSON line {"f": name, "a": [args]} to the request fd and blocks on one
# JSON line of reply, {"result": ...} or {"error": {"type", "message"}}. The fds are dedicated
# pipes (named in $ENV{QBTRIGGER_PERL_FDS}), so the callback's own STDOUT and STDERR stay free for
# its output, which goes to the job's callback log. An error dies with a qb::Error object (class
# qb::PermissionError, qb::KeyError, ...) that stringifies to a normal die message, so `eval {}`
# catches it and `$@->isa('qb::PermissionError')` tells the kinds apart.
#
# Strings cross the pipe as bytes: without `use utf8`, perl strings are byte strings, and a
# callback's UTF-8 literals go through unchanged (perl.py decodes UTF-8, falling back to
# Latin-1 for text that is not). Under `perl -c` (the registration check) no fds are given and a
# qb:: call dies.
{
    package qb::Error;
    use strict;
    use warnings;
    use overload '""' => sub { $_[0]{text} }, fallback => 1;

    sub new {
        my ($class, %args) = @_;
        my $self = bless {%args}, $class;
        $self->{text} = "qb::$args{function}: $args{type}: $args{message}"
          . (defined $args{line} ? " at $args{file} line $args{line}.\n" : "\n");
        return $self;
    }
    sub type     { $_[0]{type} }
    sub message  { $_[0]{message} }
    sub function { $_[0]{function} }
    sub throw    { my $class = shift; die $class->new(@_) }

    # The kinds qbapi raises; anything else is a plain qb::Error with its Python type name.
    # (In BEGIN, like everything here, so a callback's own BEGIN blocks may already use qb::.)
    BEGIN {
        for my $kind (qw(PermissionError KeyError TypeError ValueError AttributeError RuntimeError)) {
            no strict 'refs';
            @{"qb::${kind}::ISA"} = ('qb::Error');
        }
    }
}

{
    package qb;
    use strict;
    use warnings;
    use Fcntl qw(F_GETFD F_SETFD FD_CLOEXEC);
    use IO::Handle ();
    use JSON::PP ();

    # `our`, and set in BEGIN: a `my` would be reset when its declaration runs, after the
    # callback's own BEGIN blocks may already have called qb::.
    our ($jobid, @FUNCTIONS, $REQ, $REP, $JSON);

    BEGIN {
        # Byte semantics (utf8 off) on both sides; see the header.
        $JSON = JSON::PP->new->allow_nonref->canonical;
        if (defined(my $fds = delete $ENV{QBTRIGGER_PERL_FDS})) {
            my ($req, $rep) = split /,/, $fds;
            open($REQ, '>&=', $req) or die "qbtrigger: cannot open request fd $req: $!\n";
            open($REP, '<&=', $rep) or die "qbtrigger: cannot open reply fd $rep: $!\n";
            for my $fh ($REQ, $REP) {
                binmode $fh;
                # Programs the callback starts must not hold the engine's pipes open.
                my $flags = fcntl($fh, F_GETFD, 0);
                fcntl($fh, F_SETFD, $flags | FD_CLOEXEC) if defined $flags;
            }
            $REQ->autoflush(1);
        }
        # The log gets stdout and stderr through one pipe: unbuffered, they stay in order.
        STDOUT->autoflush(1);
        $jobid = delete $ENV{QBTRIGGER_JOBID};
        $jobid += 0 if defined $jobid;    # a number, as in the python API

        for my $name (@FUNCTIONS) {
            no strict 'refs';
            next if $name eq 'jobinfo';    # defined below: it also takes the python spellings
            *{"qb::$name"} = sub { _call($name, @_) };
        }
    }

    # Every qb:: function comes here, called directly by the user-visible sub, so `caller 1` is
    # the callback's own line.
    sub _call {
        my $name  = shift;
        local $!;    # the callback's errno (and so its die status) is not ours to change
        my @where = (caller 1)[1, 2];
        my %error = (function => $name, file => $where[0], line => $where[1]);
        qb::RuntimeError->throw(%error, type => 'RuntimeError',
            message => 'qb:: functions are only available while the callback runs')
          unless $REQ;
        my $request = eval { $JSON->encode({f => $name, a => [@_]}) };
        unless (defined $request) {
            (my $why = $@) =~ s/ at \S+ line \d+\.?\n?\z//;
            qb::TypeError->throw(%error, type => 'TypeError', message => "cannot pass these arguments: $why");
        }
        # Characters above 255 only exist under `use utf8`: send those as UTF-8.
        utf8::encode($request) if $request =~ /[^\x00-\xff]/;
        my $reply = print({$REQ} $request, "\n") ? readline($REP) : undef;
        qb::RuntimeError->throw(%error, type => 'RuntimeError', message => 'the engine closed the pipe')
          unless defined $reply;
        $reply = $JSON->decode($reply);
        if (my $err = $reply->{error}) {
            my $class = "qb::$err->{type}";
            $class = 'qb::Error' unless $class->isa('qb::Error');
            $class->throw(%error, type => $err->{type}, message => $err->{message});
        }
        return $reply->{result};
    }

    # qb::jobinfo('-id', 1234), qb::jobinfo(-pgrp => 1000), qb::jobinfo(id => 1234) or
    # qb::jobinfo({id => 1234}): a list of job hash refs (an array ref in scalar context).
    sub jobinfo {
        my $jobs = _call('jobinfo', _criteria(@_));
        return wantarray ? @$jobs : $jobs;
    }

    # Query criteria as '-field', value pairs, from any of the forms above.
    sub _criteria {
        my @args = @_;
        if (@args == 1 && ref $args[0] eq 'HASH') {
            my $criteria = $args[0];
            @args = map { ($_, $criteria->{$_}) } sort keys %$criteria;
        }
        for (my $i = 0; $i < @args; $i += 2) {
            $args[$i] = "-$args[$i]" if defined $args[$i] && !ref $args[$i] && $args[$i] !~ /^-/;
        }
        return @args;
    }

    # A plain die exits with $! when it is set, and reading the program from stdin leaves EBADF
    # behind: clear it (at run time, after the whole program was read) so a die exits with 255.
    $! = 0;
}

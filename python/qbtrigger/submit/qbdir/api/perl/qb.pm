# qbtrigger's stand-in for Qube's Perl qb module, for submit scripts.
#
# `qbtrigger check|simulate|explain SCRIPT.pl` runs the script with the system perl, this folder on
# @INC and this module (and qb::Job) loaded first, so `use qb;` gets it whatever `use lib` lines the
# script has. Every qb:: call goes back to qbtrigger over the bridge perl callbacks use (the prelude
# of qbtrigger/callbacks/languages, JSON lines over two dedicated pipes) and is answered by the same
# Python stand-in `import qb` gives Python scripts; refusals die with a qb::Error (qb::ValueError,
# qb::PermissionError, ...) that an eval {} may catch.
#
# Return values follow Qube's Perl examples: qb::submit, qb::submitcallback, qb::jobinfo,
# qb::hostinfo and the range splitters return lists (an array ref in scalar context); qb::genframes,
# qb::genchunks and qb::genpartitions return an array ref of {name => ...} hashes. Submitted jobs
# come back as qb::Job objects (hashes: $job->{id} works, and so does $job->id).
package qb;
use strict;
use warnings;

our (@FUNCTIONS, $JSON);

BEGIN {
    my $prelude = delete $ENV{QBTRIGGER_PERL_PRELUDE};
    die "qbtrigger's stand-in qb.pm works only inside `qbtrigger check|simulate|explain SCRIPT.pl`\n"
      unless defined $prelude;
    # The functions that go straight over the bridge (the others are defined below).
    @FUNCTIONS = split ' ', (delete $ENV{QBTRIGGER_PERL_FUNCTIONS} || '');
    local $@;
    do $prelude;
    die "qbtrigger: cannot load the qb:: prelude $prelude: " . ($@ || $!) . "\n" unless defined &qb::_call;
    # qb::Job objects travel as their hashes.
    $JSON->convert_blessed(1);
}

use qb::Job;

sub _jobs {
    my ($jobs) = @_;
    bless $_, 'qb::Job' for grep { ref $_ eq 'HASH' } @$jobs;
    return $jobs;
}

# qb::submit($job, ...): hashes, qb::Job objects, or array refs of them; all one submission.
sub submit {
    my $jobs = _jobs(_call('submit', @_));
    return wantarray ? @$jobs : $jobs;
}

# qb::submitcallback($callback, ...): global callbacks (administrators only, as in Qube).
sub submitcallback {
    my $callbacks = _call('submitcallback', @_);
    return wantarray ? @$callbacks : $callbacks;
}

# qb::hostinfo(name => 'x'), qb::hostinfo(-state => 'active') or qb::hostinfo({name => 'x'}).
sub hostinfo {
    my $hosts = _call('hostinfo', _criteria(@_));
    return wantarray ? @$hosts : $hosts;
}

sub genframes     { return _call('genframes', @_) }
sub genchunks     { return _call('genchunks', @_) }
sub genpartitions { return _call('genpartitions', @_) }

sub rangesplit {
    my $items = _call('rangesplit', @_);
    return wantarray ? @$items : $items;
}

sub rangechunk {
    my $items = _call('rangechunk', @_);
    return wantarray ? @$items : $items;
}

sub rangepartition {
    my $items = _call('rangepartition', @_);
    return wantarray ? @$items : $items;
}

# The older name of qb::archivejob.
sub _qb_archivejob { return _call('archivejob', @_) }

1;

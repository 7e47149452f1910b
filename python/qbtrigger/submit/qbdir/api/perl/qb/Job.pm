# qbtrigger's stand-in for Qube's Perl qb::Job: a hash with accessors.
#
#   my $job = qb::Job->new();              # or ->new({name => 'x'}) or ->new(name => 'x')
#   $job->prototype('cmdline');            # sets the field (and returns it)
#   my $name = $job->name;                 # reads it
#   $job->package('range', '1-10');        # sets one key of the package
#   $job->package({cmdline => 'set'});     # sets the whole package
#   $job->{priority} = 10;                 # it is a hash, as in Qube
#
# Any field name works as an accessor (`$job->$key($value)`); qb::submit sends the hash as it is.
package qb::Job;
use strict;
use warnings;

our $AUTOLOAD;

sub new {
    my ($class, @args) = @_;
    my %fields;
    if (@args == 1 && ref $args[0] eq 'HASH') {
        %fields = %{ $args[0] };
    } elsif (@args % 2 == 0) {
        %fields = @args;
    } else {
        die "qb::Job->new takes a hash ref or key => value pairs\n";
    }
    my $self = bless {%fields}, ref($class) || $class;
    $self->{name}      = '' unless exists $self->{name};
    $self->{prototype} = '' unless exists $self->{prototype};
    $self->{package}   = {} unless exists $self->{package};
    return $self;
}

sub package {
    my ($self, @args) = @_;
    if (@args == 1 && ref $args[0] eq 'HASH') {
        $self->{package} = $args[0];
    } elsif (@args == 1) {
        return $self->{package}{ $args[0] };
    } elsif (@args == 2) {
        $self->{package}{ $args[0] } = $args[1];
        return $args[1];
    } elsif (@args) {
        die "qb::Job->package takes a hash ref, a key, or a key and a value\n";
    }
    return $self->{package};
}

sub TO_JSON { return { %{ $_[0] } } }

sub AUTOLOAD {
    my $self = shift;
    (my $name = $AUTOLOAD) =~ s/.*:://;
    return if $name eq 'DESTROY';
    die "qb::Job::$name called without a job (use \$job->$name)\n" unless ref $self;
    $self->{$name} = shift if @_;
    return $self->{$name};
}

1;
